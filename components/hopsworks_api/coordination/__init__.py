"""Work that must run once per cluster, whichever instance runs it: DB leases with fencing
and the periodic jobs run under one."""

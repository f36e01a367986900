"""The platform CA: root -> intermediate(s) -> project-user and host certificates.

Certificates replace Kerberos: every member of every project gets a certificate with
`CN=<project>__<user>`, which is their identity in HDFS, Kafka, Hive and Kubernetes.
"""

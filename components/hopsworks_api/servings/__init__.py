"""Model serving: a registered model version behind a real model server (issue 15)."""

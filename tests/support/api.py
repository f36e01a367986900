"""A small driver over the REST API so tests read as user stories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "correct horse battery"


@dataclass
class Api:
    client: Any  # TestClient or httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def with_actors(cls, client: Any) -> Api:
        api = cls(client)
        for name in ("admin", "owner", "scientist", "outsider"):
            api.register(name)
        assert api.call("owner", "POST", "/api/projects", json={"name": "demo"}).status_code == 201
        api.add_member("owner", "demo", "scientist", "data_scientist")
        return api

    @staticmethod
    def email(name: str) -> str:
        return f"{name}@example.org"

    def register(self, name: str) -> str:
        reply = self.client.post(
            "/api/auth/register", json={"email": self.email(name), "password": PASSWORD}
        )
        assert reply.status_code == 201, reply.text
        return self.login(name)

    def login(self, name: str, password: str = PASSWORD) -> str:
        """Sign `name` in (again): a new access and refresh token."""
        reply = self.client.post(
            "/api/auth/login", json={"email": self.email(name), "password": password}
        )
        assert reply.status_code == 200, reply.text
        self.tokens[name] = reply.json()["access_token"]
        self.refresh_tokens[name] = reply.json()["refresh_token"]
        return self.tokens[name]

    def headers(self, name: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"} if name else {}

    def call(self, who: str | None, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def add_member(self, who: str, project: str, member: str, role: str) -> None:
        reply = self.call(
            who,
            "POST",
            f"/api/projects/{project}/members",
            json={"email": self.email(member), "role": role},
        )
        assert reply.status_code == 201, reply.text

    def upload(
        self, who: str, project: str, dataset: str, path: str, data: bytes
    ) -> httpx.Response:
        return self.call(
            who, "PUT", f"/api/projects/{project}/datasets/{dataset}/files/{path}", content=data
        )

    def download(self, who: str, project: str, dataset: str, path: str) -> httpx.Response:
        return self.call(who, "GET", f"/api/projects/{project}/datasets/{dataset}/files/{path}")

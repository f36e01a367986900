"""What a project may ask pip for: requirement specifiers only (PEP 508), nothing that
changes where pip looks or what it runs (options, URLs, local paths, editable installs)."""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement

from hopsworks_api.errors import BadRequest

MAX_REQUIREMENTS = 500
MAX_CHARS = 20_000


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code="bad_requirements")


def parse(text: str) -> list[Requirement]:
    """Raise 400 `bad_requirements` naming the first line pip must not see.

    A direct reference (`name @ url`) is refused like a bare URL: builds resolve from the
    configured index or wheelhouse only, so an environment can be rebuilt from its lock."""
    if len(text) > MAX_CHARS:
        raise _bad(f"requirements may be at most {MAX_CHARS} characters")
    requirements: list[Requirement] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("-"):
            raise _bad(f"line {number}: pip options are not allowed ('{line.split()[0]}')")
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]
            raise _bad(f"line {number}: not a requirement specifier: {reason}") from exc
        if requirement.url:
            raise _bad(f"line {number}: URLs and paths are not allowed ('{requirement.name}')")
        requirements.append(requirement)
    if not requirements:
        raise _bad("no requirements: name at least one package")
    if len(requirements) > MAX_REQUIREMENTS:
        raise _bad(f"at most {MAX_REQUIREMENTS} requirements")
    return requirements

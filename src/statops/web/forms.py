"""Reading a submitted form (application/x-www-form-urlencoded, which every form here sends) and checking
its CSRF token. A page's form is small: the server's body limit applies as to every request."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from statops.accounts.sessions import csrf_matches
from statops.errors import InvalidInput

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELD_CHARS = 2_000


class Form(dict[str, str]):
    """A form's fields (the first value of each), each at most MAX_FIELD_CHARS."""

    def field(self, name: str) -> str:
        return self.get(name, "")


async def read_form(request: Request) -> Form:
    """The request's form; InvalidInput for another content type, a field too long or a NUL character."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise InvalidInput(f"a form must be sent as {FORM_TYPE}")
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=50,
                          strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form could not be read") from None
    form = Form({name: values[0] for name, values in fields.items()})
    if any(len(v) > MAX_FIELD_CHARS or "\x00" in v for v in form.values()):
        raise InvalidInput("a form field is too long or holds a NUL character")
    return form


def csrf_ok(form: Form, expected: str) -> bool:
    return csrf_matches(expected, form.field("csrf"))

"""The two ways a reports command stops early; the CLI turns each into one line on stderr."""


class BadInput(Exception):
    """The input (a run, a rules file, a registry, an adapter dir, an argument) is unusable. Exit 2."""


class Refused(Exception):
    """The input is fine but the action is not allowed (e.g. promotion of a changed adapter). Exit 1.

    ``detail`` (e.g. the gate verdict that caused the refusal) is printed on stdout before the line.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail

"""Dialogs: choose each node's implementation (the ablation switch) before a run, a resume or a fork. Their styles
are in ``screens.tcss``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select


class ImplementationsScreen(ModalScreen[dict | None]):
    """One selector per role; dismisses with {role: implementation} or None when cancelled."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Select"   # the first role's choice: Enter opens it; the run starts only on OK (Tab to it, Enter)

    def __init__(self, title: str, current: dict[str, str], llm_available: bool, names: dict[str, list[str]]):
        super().__init__()
        self.title_text, self.current, self.llm_available, self.names = title, current, llm_available, names

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            with Grid(id="roles"):
                for role, names in self.names.items():
                    options = [(name if name != "llm" or self.llm_available else "llm (needs a model)", name)
                               for name in names]
                    yield Label(role)
                    yield Select(options, value=self.current.get(role, "offline"), allow_blank=False,
                                 id=f"impl-{role}")
            yield Label("", id="dialog-error")
            with Horizontal(id="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def choice(self) -> dict[str, str]:
        return {role: str(self.query_one(f"#impl-{role}", Select).value) for role in self.names}

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.action_ok()
        else:
            self.dismiss(None)

    def action_ok(self) -> None:
        choice = self.choice()
        if not self.llm_available and "llm" in choice.values():
            self.query_one("#dialog-error", Label).update("an llm implementation needs a model (--model / "
                                                          "GLIA_MODEL)")
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)

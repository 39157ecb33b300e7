"""The footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer rebuilds all its keys whenever bindings *may* have changed: on
    every screen switch and focus move. That rebuild is most of the cost of a key that
    switches screens, so this one first checks whether the keys shown would differ."""

    def __init__(self, *, compact: bool = False) -> None:
        super().__init__(compact=compact)
        self._shown: tuple[tuple[str, str, str, bool], ...] | None = None

    def _keys(self) -> tuple[tuple[str, str, str, bool], ...]:
        return tuple((key, active.binding.action, active.binding.description, active.enabled)
                     for key, active in self.screen.active_bindings.items()
                     if active.binding.show)

    def bindings_changed(self, screen: Screen) -> None:
        if (self._shown is not None and self.is_attached and screen is self.screen
                and screen.app.app_focus and self._keys() == self._shown):
            return
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        self._shown = self._keys() if self._bindings_ready else None
        yield from super().compose()

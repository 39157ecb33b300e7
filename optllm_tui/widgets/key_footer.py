"""The footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.compose import compose
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: A shown key: (key, action, description, enabled).
ShownKey = tuple[str, str, str, bool]
#: Keys shown first, at every width: how to leave, and where every command is.
PINNED = ("quit", "command_palette")


class KeyFooter(Footer):
    """Textual's Footer rebuilds all its keys whenever bindings *may* have changed: on
    every screen switch, focus move and key turned on or off. Rebuilding is most of the
    cost of a key that switches screens, and keys turn on and off several times a second
    while the optimiser runs. This one does nothing when the keys are the same, and only
    dims or undims the changed keys when just that differs."""

    def __init__(self, *, compact: bool = False) -> None:
        super().__init__(compact=compact)
        self._shown: tuple[ShownKey, ...] | None = None

    def _keys(self) -> tuple[ShownKey, ...]:
        return tuple((key, active.binding.action, active.binding.description, active.enabled)
                     for key, active in self.screen.active_bindings.items()
                     if active.binding.show)

    def bindings_changed(self, screen: Screen) -> None:
        if (self._shown is None or not self.is_attached or screen is not self.screen
                or not screen.app.app_focus):
            super().bindings_changed(screen)
            return
        keys = self._keys()
        if [key[:3] for key in keys] != [key[:3] for key in self._shown]:
            super().bindings_changed(screen)
            return
        if keys != self._shown:
            self._shown = keys
            self._set_enabled(keys)

    def _set_enabled(self, keys: tuple[ShownKey, ...]) -> None:
        """Dim the keys whose action is off. Footer shows one key per action (the first);
        `_disabled` is what FooterKey checks on a click."""
        enabled: dict[str, bool] = {}
        for _, action, _, on in keys:
            enabled.setdefault(action, on)
        for footer_key in self.query("FooterKey"):
            off = not enabled.get(getattr(footer_key, "action", ""), True)
            footer_key._disabled = off  # type: ignore[attr-defined]
            footer_key.set_class(off, "-disabled")

    def compose(self) -> ComposeResult:
        """Textual's keys, with quit and the palette moved to the front: at the end they
        are the first cut off by a narrow terminal."""
        self._shown = self._keys() if self._bindings_ready else None
        keys = compose(self, super().compose())
        pinned = sorted((key for key in keys if isinstance(key, FooterKey)
                         and key.action in PINNED), key=lambda key: PINNED.index(key.action))
        for key in pinned:
            key.remove_class("-command-palette")  # docked right otherwise
        yield from pinned
        yield from (key for key in keys if key not in pinned)

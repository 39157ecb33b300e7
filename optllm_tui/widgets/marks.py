"""Toggles whose state reads without colour: in a plain-text capture (tmux, a screen
reader, a monochrome terminal) Textual's radio buttons and selection boxes look the same
on and off, since only their colour changes."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.strip import Strip
from textual.widgets import OptionList, RadioButton, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

RADIO_ON, RADIO_OFF = "(•)", "( )"
BOX_ON, BOX_OFF = "[x]", "[ ]"


class MarkedRadioButton(RadioButton):
    """A radio button drawn `(•)` when chosen and `( )` when not."""

    @property
    def _button(self) -> Content:
        return Content.styled(RADIO_ON if self.value else RADIO_OFF,
                              self.get_visual_style("toggle--label"))


class MarkedSelectionList(SelectionList[str]):
    """A selection list with `[x]` / `[ ]` boxes, as wide as Textual's own."""

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)
        index = self.scroll_offset.y + y
        try:
            selection = self.get_option_at_index(index)
        except OptionDoesNotExist:
            return line
        style = (next(iter(line)).style or self.rich_style) + Style(meta={"option": index})
        mark = BOX_ON if selection.value in self._selected else BOX_OFF
        return Strip([Segment(f"{mark} ", style=style), *line])

"""One registry of commands feeding the key bindings, the footer, the F1 help and the
command palette, so the four can never disagree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

#: (mode name, key, title) of the seven screens, in key order.
SCREENS: tuple[tuple[str, str, str], ...] = (
    ("datasets", "1", "Datasets"),
    ("predictor", "2", "Predictor"),
    ("optimise", "3", "Optimise"),
    ("front", "4", "Front"),
    ("allocation", "5", "Allocation"),
    ("export", "6", "Export"),
    ("compare", "7", "Compare"),
)
SCOPE_TITLES = {"app": "Everywhere", **{mode: title for mode, _, title in SCREENS}}
_SCREEN_KEYS = Binding.Group("Screens", compact=True)
_BROWSE_KEYS = Binding.Group("Browse")


@dataclass(frozen=True)
class Command:
    """A key-bound action. `label` is the footer text, `title` the help and palette text.

    `bound=False` entries only document keys that widgets handle themselves (Tab, Enter
    in a field, the palette key), so the help lists every key.
    `priority` bindings fire even while a number field has focus (those fields refuse
    letters anyway), so e.g. `t` trains without leaving the form first.
    """

    scope: str
    keys: str
    action: str
    label: str
    title: str
    show: bool = True
    priority: bool = False
    bound: bool = True
    group: Binding.Group | None = None

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.label, show=self.show,
                       priority=self.priority, tooltip=self.title, group=self.group)


COMMANDS: tuple[Command, ...] = (
    *(Command("app", key, f"show_screen('{mode}')", title, f"Go to the {title} screen",
              group=_SCREEN_KEYS) for mode, key, title in SCREENS),
    Command("app", "f1", "help", "Help", "Show every key"),
    Command("app", "ctrl+p", "command_palette", "Palette", "Open the command palette",
            bound=False),
    Command("app", "f2", "save_run", "Save run", "Save the run (config, predictions, front, "
            "chosen point) to a file", show=False),
    Command("app", "f3", "open_run", "Open run", "Open a saved run", show=False),
    Command("app", "ctrl+t", "next_theme", "Theme", "Switch to the next colour theme",
            show=False),
    Command("app", "f8", "screenshot", "Screenshot", "Save an SVG screenshot of the screen",
            show=False),
    Command("app", "q", "quit", "Quit", "Quit (asks first if trained work is unsaved)"),
    Command("app", "ctrl+q", "quit_now", "Quit now", "Quit at once, whatever runs or is "
            "unsaved, even from a text field or a question",
            show=False, priority=True),
    Command("app", "tab,shift+tab", "focus_next", "Focus", "Move between fields and tables",
            bound=False),
    Command("datasets", "o", "focus_path", "Open file", "Type a file path to open"),
    Command("datasets", "d", "load_default", "Default", "Open the embedded default dataset "
            "(synthetic)"),
    Command("datasets", "a", "focus_batch", "Batch", "Type the path of new unlabelled queries "
            "to allocate (optional)"),
    Command("datasets", "x", "clear_batch", "No batch", "Clear the batch of queries to "
            "allocate (split the labelled dataset instead)", show=False),
    Command("datasets", "p", "focus_prices", "Prices", "Type the path of a prices TOML for "
            "the batch (optional)", show=False),
    Command("datasets", "enter", "open", "Open", "Open the highlighted source or the typed "
            "path", bound=False),
    Command("datasets", "escape", "leave_field", "Leave field", "Leave the path field",
            show=False),
    Command("predictor", "t", "train", "Train", "Train the predictor with these parameters",
            priority=True),
    Command("predictor", "escape", "cancel", "Cancel", "Cancel training"),
    Command("predictor", "n", "label_next", "Label next", "Choose the unlabelled queries to "
            "label next, export them, and merge them back once labelled", priority=True),
    Command("predictor", "enter", "apply", "Apply", "Check a field's value and leave it",
            bound=False),
    Command("optimise", "s", "step", "Step", "Take one optimiser step", priority=True),
    Command("optimise", "r", "run", "Run", "Run the optimiser to the end", priority=True),
    Command("optimise", "p,escape", "pause", "Pause", "Pause the run", priority=True),
    Command("optimise", "x", "reset", "Reset", "Reset the optimiser (applies method and "
            "density)", priority=True),
    Command("optimise", "left_square_bracket", "back", "Back", "Show the previous recorded "
            "step", priority=True, group=_BROWSE_KEYS),
    Command("optimise", "right_square_bracket", "forward", "Fwd", "Show the next recorded "
            "step", priority=True, group=_BROWSE_KEYS),
    Command("optimise", "z", "cycle_cost_scale", "Scale", "Cost axis: zoomed to the front, "
            "log scale or full range", priority=True),
    Command("optimise", "f", "follow", "Live", "Follow the newest step", priority=True),
    Command("optimise", "end", "follow", "Live", "Follow the newest step", show=False,
            priority=True),
    Command("front", "left,h", "move(-1)", "Prev", "Select the next cheaper point"),
    Command("front", "right,l", "move(1)", "Next", "Select the next more accurate point"),
    Command("front", "pageup", "jump(-1)", "-5%", "Move 5% of the points cheaper", show=False),
    Command("front", "pagedown", "jump(1)", "+5%", "Move 5% of the points more accurate",
            show=False),
    Command("front", "home", "move_to(0)", "Cheapest", "Select the cheapest point", show=False),
    Command("front", "end", "move_to(-1)", "Best", "Select the most accurate point",
            show=False),
    Command("front", "b", "budget", "Budget", "Select the best point within a budget (USD)"),
    Command("front", "t", "target", "Target", "Select the cheapest point reaching a target "
            "accuracy"),
    Command("front", "c", "limits", "Limits", "Edit per-model limits (cap, max spend, min "
            "share); the front is put under them"),
    Command("front", "enter", "open_allocation", "Table", "Show the chosen allocation"),
    Command("front", "z", "cycle_cost_scale", "Scale", "Cost axis: zoomed to the front, "
            "log scale or full range"),
    Command("allocation", "o", "cycle_sort", "Sort", "Sort by cost, score, uncertainty or "
            "not at all"),
    Command("allocation", "r", "reverse", "Reverse", "Reverse the sort order"),
    Command("allocation", "m", "cycle_model", "Model", "Show the next model's queries, or all"),
    Command("allocation", "p", "pick_model", "Pick model", "Pick the model whose queries to "
            "show (or all) from a list"),
    Command("allocation", "slash", "filter", "Filter", "Filter the rows by query text (Enter "
            "applies, Escape clears)"),
    Command("allocation", "escape", "clear_filter", "Clear filter", "Clear the query text "
            "filter"),
    Command("allocation", "j,k,g,G", "", "Rows", "Down, up, first row, last row",
            bound=False),
    Command("export", "e", "export", "Export", "Write the chosen allocation to the file"),
    Command("export", "enter", "export", "Export", "Export to the typed path", bound=False),
    Command("export", "escape", "leave_field", "Leave field", "Leave the path field",
            show=False),
    Command("compare", "c", "run", "Compare", "Run the selected methods on the dataset and "
            "compare their fronts", priority=True),
    Command("compare", "escape", "cancel", "Cancel", "Cancel the comparison"),
    Command("compare", "space", "", "Toggle", "Select or unselect the highlighted method",
            bound=False),
    Command("compare", "m", "cycle_highlight", "Highlight", "Highlight one method's front "
            "(the others dimmed), the next, or none", priority=True),
    Command("compare", "a", "toggle_axis", "Axis", "Plot true or predicted accuracy",
            priority=True),
    Command("compare", "z", "cycle_cost_scale", "Scale", "Cost axis: zoomed to the "
            "allocating methods' fronts, log scale or full range", priority=True),
)


def commands_for(scope: str) -> list[Command]:
    return [command for command in COMMANDS if command.scope == scope]


def bindings_for(scope: str) -> list[BindingType]:
    """The BINDINGS of a screen (or of the app, scope "app")."""
    return [command.binding() for command in commands_for(scope) if command.bound]


class CommandProvider(Provider):
    """The palette's OptLLM commands: every screen's, from anywhere. A command of another
    screen switches to it first (`OptLLMApp.run_screen_command`); the app's and the current
    screen's commands are left out while the screen says they do not apply."""

    def _available(self) -> list[tuple[Command, Callable[[], object]]]:
        scope = getattr(self.screen, "SCOPE", None)
        found: dict[tuple[str, str], tuple[Command, Callable[[], object]]] = {}
        for command in COMMANDS:
            if not command.bound or (command.scope, command.action) in found:
                continue
            if command.scope in ("app", scope):
                node: App[object] | Screen[object] = (
                    self.app if command.scope == "app" else self.screen)
                if node.check_action(command.action.split("(", 1)[0], ()) is False:
                    continue
                run = partial(node.run_action, command.action)
            else:
                run = partial(self.app.run_screen_command,  # type: ignore[attr-defined]
                              command.scope, command.action)
            found[command.scope, command.action] = (command, run)
        return list(found.values())

    def _text(self, command: Command) -> str:
        return f"{SCOPE_TITLES[command.scope]}: {command.title}"

    async def discover(self) -> Hits:
        for command, run in self._available():
            yield DiscoveryHit(self._text(command), run, help=f"key: {command.keys}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command, run in self._available():
            text = self._text(command)
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, help=f"key: {command.keys}")

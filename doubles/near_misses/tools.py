"""Tool-discipline near misses: recalls before the settings read, the index after the edit, namespaced names."""

from __future__ import annotations

from dataset.teacher import Teacher
from doubles.near_misses.base import near_miss
from evals.episode import call


@near_miss("tools.settings_check_on_boot")
class RecallsBeforeSettings(Teacher):
    """The cart-independent recalls go out before the settings read."""

    def boot(self) -> None:
        self.act(call("memory_recall", query="self-model"), call("memory_recall", query="user preferences"))
        self.read_settings()
        self.act(call("memory_recall", query=f"cart {self.active}"))
        self.load_cart()


@near_miss("tools.index_search_before_code")
class SearchesAfterTheEdit(Teacher):
    """The memory checks come first; index_search only after the edit."""

    def prework_order(self) -> tuple[str, ...]:
        return ("memory", "legacy")

    def after_changes(self, topic: str) -> None:
        self.one("index_search", query=topic, kind="code")


@near_miss("tools.no_redundant_namespacing")
class NamespacedNames(Teacher):
    """Names repeat their module or class: count in users.ts becomes countUsers."""

    def symbol_name(self, symbol: str, owner: str) -> str:
        return symbol + owner[:1].upper() + owner[1:]

"""Persistent settings (QSettings): last folder, heat opacity, model, window size and panel layout, recent files,
anonymise, heat map on negative studies."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class AppSettings:
    def __init__(self, settings: QSettings | None = None):
        self.qs = settings or QSettings("cxrviewer", "cxrviewer")

    def _get(self, key, default, kind):
        value = self.qs.value(key, default)
        try:
            if kind is bool:
                return value in (True, "true", "1", 1) if not isinstance(value, bool) else value
            return kind(value)
        except (TypeError, ValueError):
            return default

    @property
    def last_folder(self) -> str:
        return self._get("last_folder", "", str)

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self.qs.setValue("last_folder", value)

    @property
    def opacity(self) -> int:
        return max(0, min(100, self._get("opacity", 35, int)))

    @opacity.setter
    def opacity(self, value: int) -> None:
        self.qs.setValue("opacity", int(value))

    @property
    def model(self) -> str:
        return self._get("model", "", str)

    @model.setter
    def model(self, value: str) -> None:
        self.qs.setValue("model", value)

    @property
    def anonymise(self) -> bool:
        return self._get("anonymise", False, bool)

    @anonymise.setter
    def anonymise(self, value: bool) -> None:
        self.qs.setValue("anonymise", bool(value))

    @property
    def heat_on_negative(self) -> bool:
        return self._get("heat_on_negative", False, bool)

    @heat_on_negative.setter
    def heat_on_negative(self, value: bool) -> None:
        self.qs.setValue("heat_on_negative", bool(value))

    @property
    def dock_state(self) -> QByteArray | None:
        """The panels' layout (QMainWindow.saveState), saved with the window geometry."""
        value = self.qs.value("dock_state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @dock_state.setter
    def dock_state(self, value: QByteArray) -> None:
        self.qs.setValue("dock_state", value)

    @property
    def geometry(self) -> QByteArray | None:
        value = self.qs.value("geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.qs.setValue("geometry", value)

    @property
    def window_size(self) -> tuple[int, int] | None:
        value = self.qs.value("window_size")
        try:
            w, h = (int(v) for v in value)
            return (w, h) if w > 0 and h > 0 else None
        except (TypeError, ValueError):
            return None

    @window_size.setter
    def window_size(self, value: tuple[int, int]) -> None:
        self.qs.setValue("window_size", [int(value[0]), int(value[1])])

    @property
    def recent(self) -> list[str]:
        value = self.qs.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value][:MAX_RECENT] if isinstance(value, list) else []

    def add_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent if p != path]
        self.qs.setValue("recent", items[:MAX_RECENT])

    def sync(self) -> None:
        self.qs.sync()

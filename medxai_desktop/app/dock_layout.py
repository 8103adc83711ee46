"""Dock sizes that keep every text readable.

* The tabs of tabbed docks are never elided ("Explanati..."): each right-hand dock is at least
  as wide as its tab bar needs, whatever its panel asks for.
* The computed-maps list wraps a long row (method, class, time, ROAD score) instead of
  clipping the score at the dock's edge.
* The DICOM tags tab needs more room than the panels (tag, keyword, VR and a readable value):
  while it is shown the right dock area is at least ``TAGS_WIDTH`` wide; the width the reader
  had is given back when another tab is shown.
* On a laptop screen (1280x800, 1366x768) every panel stays reachable: the window opens within
  the screen's available area (:func:`fit_to_screen`), and the tall panels scroll inside their
  dock (:func:`scrollable`) instead of making the window taller than the screen, which pushed
  the docks' tab bars off it.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QFrame, QListView, QScrollArea, QTabBar, QWidget
from shiboken6 import isValid

TAGS_WIDTH = 480
PREFERRED_SIZE = (1400, 900)


def fit_to_screen(window, preferred: tuple[int, int] = PREFERRED_SIZE) -> None:
    """``preferred`` size, or less on a smaller screen: the whole window on the available area
    of its screen (the saved geometry, if any, replaces this when shown)."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        window.resize(*preferred)
        return
    area = screen.availableGeometry()
    frame = window.frameGeometry().size() - window.geometry().size()   # title bar and borders
    width = min(preferred[0], area.width() - frame.width())
    height = min(preferred[1], area.height() - frame.height())
    window.resize(width, height)
    window.move(area.topLeft())


def in_front(dock) -> bool:
    """``dock`` is shown and not behind another tab of its group."""
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def show_or_put_away(dock) -> None:
    """A show key: shows and raises ``dock`` when it is hidden or behind another tab; only a
    dock already in front is put away (hidden) by it."""
    if in_front(dock):
        dock.hide()
    else:
        dock.show()
        dock.raise_()


def scrollable(panel: QWidget) -> QScrollArea:
    """``panel`` in a vertical scroll area: a short dock scrolls it rather than growing the window."""
    area = QScrollArea()
    area.setObjectName(f"{panel.objectName() or type(panel).__name__} scroll")
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(panel.minimumSizeHint().width())
    return area


class DockLayout(QObject):
    """Installed once on the main window ``window`` (its docks exist by then)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self._width_before_tags: int | None = None
        maps = window.panel.maps_list
        maps.setWordWrap(True)
        maps.setResizeMode(QListView.ResizeMode.Adjust)
        maps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        window.tabifiedDockWidgetActivated.connect(lambda _dock: self.fit_tabs())
        for dock in self.right_docks():
            dock.dockLocationChanged.connect(lambda _area: QTimer.singleShot(0, self.fit_tabs))
        window.tags_dock.visibilityChanged.connect(self._tags_shown)
        QTimer.singleShot(0, self.fit_tabs)      # once the saved layout is restored (first show)

    def right_docks(self) -> list:
        window = self.window
        return [window.panel_dock, window.tags_dock, window.crosseai_dock]

    def tab_bars(self) -> list[QTabBar]:
        """The main window's own tab bars (one per group of tabbed docks)."""
        return [bar for bar in self.window.findChildren(QTabBar) if bar.parent() is self.window]

    def fit_tabs(self) -> None:
        """No eliding, and each right dock at least as wide as the widest dock tab bar needs."""
        needed = 0
        docks = [d for d in self.window.findChildren(QDockWidget) if d.isVisible() and not d.isFloating()]
        for bar in self.tab_bars():
            # a tab bar Qt no longer lays out (left over from an earlier tabbing) lies under a
            # dock; where the dock is shorter its edge shows over the dock's title: hide it
            if bar.isVisible() and any(d.geometry().intersects(bar.geometry()) for d in docks):
                bar.hide()
            bar.setElideMode(Qt.TextElideMode.ElideNone)
            needed = max(needed, bar.sizeHint().width())
        for dock in self.right_docks():
            dock.setMinimumWidth(max(needed, dock.widget().minimumSizeHint().width()))

    def _tags_shown(self, visible: bool) -> None:
        window = self.window
        if not isValid(window) or not window.isVisible():     # closing: nothing to lay out
            return
        area = Qt.DockWidgetArea.RightDockWidgetArea
        if window.dockWidgetArea(window.tags_dock) != area or window.tags_dock.isFloating():
            return
        if visible and window.tags_dock.width() < TAGS_WIDTH:
            self._width_before_tags = window.tags_dock.width()
            window.resizeDocks([window.tags_dock], [TAGS_WIDTH], Qt.Orientation.Horizontal)
        elif not visible and self._width_before_tags is not None:
            # another tab of the group is shown now: the group gets the reader's width back
            shown = [d for d in self.right_docks() if d is not window.tags_dock and not d.isHidden()]
            if shown:
                window.resizeDocks(shown, [self._width_before_tags] * len(shown), Qt.Orientation.Horizontal)
            self._width_before_tags = None

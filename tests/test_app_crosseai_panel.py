"""The CrossEAI panel carries every parameter of the box step, the foreground mask included."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from medxai_desktop.app.crosseai_panel import CrossEAIPanel  # noqa: E402
from medxai_desktop.core.explain.crosseai import CrossEAIParams  # noqa: E402


def test_the_foreground_switch_round_trips_and_emits_a_change(qtbot):
    panel = CrossEAIPanel()
    qtbot.addWidget(panel)
    card = CrossEAIParams(alpha=0.3, tau=0.62, foreground=True)
    panel.set_params(card)
    assert panel.foreground.isChecked() and panel.params() == card   # the card's values, exactly
    seen = []
    panel.params_changed.connect(seen.append)
    panel.foreground.click()
    assert seen and seen[-1].foreground is False and panel.params().foreground is False
    assert panel.params().alpha == 0.3

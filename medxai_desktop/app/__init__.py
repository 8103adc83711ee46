"""The PySide6 desktop application: renders core objects, turns gestures into core calls."""

"""check-config's stderr without its camera warning, which depends on the machine (a test box has no /dev/video0)."""


def without_camera_warning(err: str) -> str:
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith("fer-edge: warning: camera "))

"""The production server's settings file (leadcrm/gunicorn.conf.py), read as gunicorn reads it."""

import gc
import runpy
from pathlib import Path

from gunicorn.config import Config

CONF = Path(__file__).resolve().parent.parent / "leadcrm" / "gunicorn.conf.py"


def gunicorn_config() -> Config:
    """gunicorn's own loader: an unknown setting is ignored, a hook of the wrong shape refused."""
    config = Config()
    for name, value in runpy.run_path(str(CONF)).items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_a_worker_freezes_what_the_loaded_app_holds():
    config = gunicorn_config()
    gc.unfreeze()
    try:
        config.post_worker_init(None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()

"""Reads a glance-api.conf with glance's own option definitions (run with the system python3,
where the glance-api package installed glance); prints the values that matter as JSON."""
import json
import sys

import glance.api.versions  # noqa: F401  public_endpoint
import glance.common.config  # noqa: F401  registers [DEFAULT] options
import glance.common.wsgi  # noqa: F401  bind_host, workers
import glance_store.multi_backend as mb
from keystonemiddleware import auth_token  # noqa: F401
from oslo_config import cfg

CONF = cfg.CONF
CONF(args=[], default_config_files=[sys.argv[1]], project="glance")
mb.register_store_opts(CONF, reserved_stores={"os_glance_staging_store": "file", "os_glance_tasks_store": "file"})
out = {
  "bind_host": CONF.bind_host, "bind_port": CONF.bind_port, "workers": CONF.workers,
  "enabled_import_methods": CONF.enabled_import_methods,
  "enabled_backends": CONF.enabled_backends, "default_backend": CONF.glance_store.default_backend,
  "worker_self_reference_url": CONF.worker_self_reference_url, "public_endpoint": CONF.public_endpoint,
  "stores": {name: CONF[name].filesystem_store_datadir
             for name in list(CONF.enabled_backends) + ["os_glance_staging_store", "os_glance_tasks_store"]},
  "flavor": CONF.paste_deploy.flavor,
}
print(json.dumps(out))

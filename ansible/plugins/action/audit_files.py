# -*- coding: utf-8 -*-
"""Action plugin: list every image through the VIP and name the files each glance host should have.

Runs on the deploy host (no module is shipped); the Keystone password stays in this process.
"""

from __future__ import annotations

import urllib.error

from ansible_collections.glance_ha.ha.plugins.module_utils import audit
from ansible_collections.glance_ha.ha.plugins.module_utils.deploy_host_action import DeployHostAction

DOCUMENTATION = r"""
module: audit_files
short_description: The image copies the audit judges (audit.list_images + copies)
options:
  keystone_url: {description: Keystone v3 URL., type: str, required: true}
  username: {description: Admin user., type: str, default: admin}
  password: {description: Its password., type: str, required: true, no_log: true}
  project: {description: Admin project., type: str, default: admin}
  image_url: {description: Glance through the VIP (http://VIP:port)., type: str, required: true}
  stores: {description: The inventory's glance_api_stores., type: list, elements: dict, required: true}
  default_store: {description: glance_api_default_store., type: str, required: true}
"""


class ActionModule(DeployHostAction):
    def act(self, a, task_vars):
        try:
            token = audit.keystone_token(a["keystone_url"], a.get("username", "admin"), a["password"],
                                         a.get("project", "admin"))
            images = audit.list_images(a["image_url"], token)
        except (OSError, urllib.error.URLError, KeyError, ValueError) as e:
            return {"failed": True, "msg": f"cannot list the images through {a.get('image_url')}: {e}"}
        return {"images": len(images),
                "files": audit.copies(images, audit.stores_map(a["stores"]), a["default_store"])}

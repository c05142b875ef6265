"""The base of the collection's action plugins that run wholly on the deploy host: no module is
shipped, no connection is opened, nothing is changed. A plugin defines `act(args, task_vars)`,
which returns the result's own keys."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase


class DeployHostAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def act(self, args: dict, task_vars: dict) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result["changed"] = False
        result.update(self.act(dict(self._task.args), task_vars or {}))
        return result

"""What the driver API's robustness tests share: the documented driver operations (tag
`drivers` in docs/api/cloud.openapi.yaml) and the ones that exist at the time of writing,
which must always be among those tried (so a walk can never pass by covering nothing)."""

from __future__ import annotations

from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE

SPEC = load_spec("cloud")
DRIVER_OPS = sorted((p, m) for p, m in operations(SPEC) if "drivers" in SPEC["paths"][p][m].get("tags", []))
EXISTING = {(f"{BASE}/login", "post"), (f"{BASE}/logout", "post"), (f"{BASE}/me", "get"), (f"{BASE}/me", "patch"),
            (f"{BASE}/payment-password", "post"), (f"{BASE}/payment-password", "put"),
            (f"{BASE}/payment-password/verify", "post")}

"""Drives a portal (the simulator over https, or a real organization you are
willing to change) with Esri's ArcGIS API for Python, the way an
administrator's script would, and prints one line per operation.

    agol-seat-broker simulate-portal --tls --listen 127.0.0.1:8443
    REQUESTS_CA_BUNDLE=.simulator-tls/ca.pem SSL_CERT_FILE=.simulator-tls/ca.pem \
        python python-api.py https://127.0.0.1:8443 sim_admin sim-admin-pass1

Needs `pip install "arcgis==2.4.*"` (heavy: not run in CI). Exits non-zero
when any operation fails; the result of a run is recorded in
docs/esri-clients.md.
"""

import sys
import time
import traceback

from arcgis.gis import GIS

url, username, password = sys.argv[1:4]
member = "pyapi_%x" % int(time.time())
failed = 0


def step(name, run):
    global failed
    try:
        detail = run()
        print("ok    %s%s" % (name, ": %s" % detail if detail else ""))
        return True
    except Exception as e:  # report every failure and go on
        failed += 1
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        print("FAIL  %s: %s" % (name, last[:300]))
        return False


gis = None


def sign_in():
    global gis
    gis = GIS(url, username, password)
    return "%s on %s" % (gis.users.me.username, gis.properties.name)


if not step("sign in: GIS(url, user, password)", sign_in):
    print("1 operation(s) failed")
    sys.exit(1)

step("the signed-in user's privileges", lambda: "%d" % len(gis.users.me.privileges))
step("users.search(query)", lambda: "%d found" % len(gis.users.search("*")))
state = {}


def create():
    u = gis.users.create(
        username=member,
        password="Py-Api-Pass-42",
        firstname="Py",
        lastname="Api",
        email="%s@example.org" % member,
        role="org_user",
        user_type="creatorUT",
    )
    state["user"] = u
    return u.username


step("users.create", create)
step("users.get", lambda: gis.users.get(member).username)
step("user.user_types()", lambda: str(state["user"].user_types()["userLicenseType"]["id"]))
step("user.update(description)", lambda: str(state["user"].update(description="made by the Python API")))
step("user.update_role(Viewer)", lambda: str(state["user"].update_role("iAAAAAAAAAAAAAAA")))
step("user.update_license_type(viewerUT)", lambda: str(state["user"].update_license_type("viewerUT")))


def group_add():
    g = gis.groups.search("title:Field Crews")[0]
    state["group"] = g
    return str(g.add_users([member]))


step("groups.search + group.add_users", group_add)
step("group.get_members()", lambda: str(state["group"].get_members()))
step("user.disable()", lambda: str(state["user"].disable()))
step("user.enable()", lambda: str(state["user"].enable()))
step("users.user_settings", lambda: str(gis.users.user_settings))
step("users.counts('user_type')", lambda: str(gis.users.counts("user_type")))
step("users.all()", lambda: "%d" % len(gis.users.all()))
step("user.delete()", lambda: str(state["user"].delete()))
step("it is gone", lambda: "gone" if gis.users.get(member) is None else (_ for _ in ()).throw(Exception("still there")))

print("%d operation(s) failed" % failed if failed else "every operation worked")
sys.exit(1 if failed else 0)

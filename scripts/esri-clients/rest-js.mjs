// Drives a portal (the simulator, or a real organization you are willing to
// change) with Esri's own ArcGIS REST JS client, the way an administrator's
// script would: sign in, read the organization, search, create a member,
// change its role and then its user type (a Viewer type needs the Viewer role
// first), add it to a group, disable and delete it.
// Prints one line per operation and exits non-zero when any fails.
//
//   node rest-js.mjs https://127.0.0.1:8443/sharing/rest sim_admin sim-admin-pass1
//
// Over https with the simulator's throw-away CA:
//   NODE_EXTRA_CA_CERTS=.simulator-tls/ca.pem node rest-js.mjs ...
import { ArcGISIdentityManager, request } from "@esri/arcgis-rest-request";
import {
  addGroupUsers,
  getGroupUsers,
  getSelf,
  getUser,
  searchGroups,
  searchUsers,
  updateUser,
} from "@esri/arcgis-rest-portal";

const [portal, username, password] = process.argv.slice(2);
if (!portal || !username || !password) {
  console.error("usage: node rest-js.mjs <portal sharing/rest URL> <admin username> <password>");
  process.exit(64);
}
const member = `restjs_${Date.now().toString(36)}`;
let failed = 0;

async function step(name, run) {
  try {
    const detail = await run();
    console.log(`ok    ${name}${detail ? `: ${detail}` : ""}`);
    return true;
  } catch (e) {
    failed += 1;
    console.log(`FAIL  ${name}: ${e && e.message ? e.message : e}`);
    return false;
  }
}

let auth;
await step("sign in (generateToken)", async () => {
  auth = await ArcGISIdentityManager.signIn({ username, password, portal });
  return `token for ${auth.username}`;
});
if (!auth) process.exit(1);
const authentication = auth;

await step("the signed-in user (community/self)", async () => {
  const me = await authentication.getUser();
  if (me.role !== "org_admin") throw new Error(`role ${me.role}`);
  return `${me.username}, ${me.role}, ${(me.privileges || []).length} privileges`;
});
let orgId;
await step("the organization (portals/self)", async () => {
  const self = await getSelf({ authentication });
  orgId = self.id;
  return `${self.name} (${self.id})`;
});
await step("search members (portals/self/users/search)", async () => {
  const found = await searchUsers({ q: "*", num: 10, authentication });
  return `${found.total} found`;
});
await step("create a member (portals/self/invite)", async () => {
  const r = await request(`${portal}/portals/self/invite`, {
    authentication,
    params: {
      invitationList: {
        invitations: [
          {
            username: member,
            password: "Rest-Js-Pass-42",
            firstname: "Rest",
            lastname: "Js",
            fullname: "Rest Js",
            email: `${member}@example.org`,
            role: "org_user",
            userLicenseType: "creatorUT",
            groups: "",
            userType: "arcgisonly",
          },
        ],
      },
      message: "",
    },
  });
  if ((r.notInvited || []).length) throw new Error(`not invited: ${r.notInvited}`);
  return member;
});
await step("read it (community/users/<u>)", async () => {
  const u = await getUser({ username: member, authentication });
  return `${u.username}, ${u.role}, ${u.userLicenseTypeId}`;
});
await step("update its profile (community/users/<u>/update)", async () => {
  const r = await updateUser({ user: { username: member, description: "made by REST JS" }, authentication });
  if (!r.success) throw new Error(JSON.stringify(r));
});
await step("change its role (portals/self/updateUserRole)", async () => {
  const r = await request(`${portal}/portals/self/updateUserRole`, {
    authentication,
    params: { user: member, role: "iAAAAAAAAAAAAAAA" },
  });
  if (!r.success) throw new Error(JSON.stringify(r));
  return "Viewer";
});
await step("change its user type (portals/self/updateUserLicenseType)", async () => {
  const r = await request(`${portal}/portals/self/updateUserLicenseType`, {
    authentication,
    params: { users: [member], userLicenseType: "viewerUT" },
  });
  const ok = (r.results || []).every((x) => x.status);
  if (!ok) throw new Error(JSON.stringify(r));
  return "viewerUT";
});
let group;
await step("find a group (community/groups)", async () => {
  const found = await searchGroups({ q: `orgid:${orgId}`, authentication });
  group = found.results[0];
  if (!group) throw new Error("no group in the organization");
  return group.title;
});
if (group) {
  await step("add it to the group (community/groups/<id>/addUsers)", async () => {
    const r = await addGroupUsers({ id: group.id, users: [member], authentication });
    if ((r.notAdded || []).length) throw new Error(`not added: ${r.notAdded}`);
  });
  await step("the group's members (community/groups/<id>/users)", async () => {
    const r = await getGroupUsers(group.id, { authentication });
    if (!(r.users || []).includes(member)) throw new Error(JSON.stringify(r));
    return `${(r.users || []).length} members`;
  });
}
await step("disable it (community/users/<u>/disable)", async () => {
  const r = await request(`${portal}/community/users/${member}/disable`, { authentication });
  if (!r.success && r.status !== "success") throw new Error(JSON.stringify(r));
});
await step("enable it (community/users/<u>/enable)", async () => {
  const r = await request(`${portal}/community/users/${member}/enable`, { authentication });
  if (!r.success && r.status !== "success") throw new Error(JSON.stringify(r));
});
await step("delete it (community/users/<u>/delete)", async () => {
  const r = await request(`${portal}/community/users/${member}/delete`, { authentication });
  if (!r.success) throw new Error(JSON.stringify(r));
});
await step("it is gone", async () => {
  try {
    await getUser({ username: member, authentication });
  } catch (e) {
    return "community/users/<u> refuses";
  }
  throw new Error("still there");
});

console.log(failed ? `${failed} operation(s) failed` : "every operation worked");
process.exit(failed ? 1 : 0);

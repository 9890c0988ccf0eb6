// The demo page: JWT sign-in, then chat rooms with a live list of who is online, a shared list that follows
// model changes, a background task with a progress bar, and a count that survives dropped sockets.
// "realtime" comes from the import map that {% realtime_client %} writes.
import { HubConnectionBuilder, exponentialBackoff } from "realtime";

const $ = (id) => document.getElementById(id);
const demo = (window.demo = { refreshes: 0, reconnects: 0, room: "lobby", counted: [], drops: 0 });

// --- JWT: sign in, refresh, sign out ----------------------------------------------------------------------

function expiresSoon(token) {
  const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  return payload.exp * 1000 - Date.now() < 2000;
}

async function postJson(url, body) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { ok: response.ok, data: await response.json() };
}

/** The hub's accessTokenFactory: called before every (re)connect; refreshes an expired access token. */
async function accessToken() {
  const access = sessionStorage.getItem("access");
  if (access && !expiresSoon(access)) return access;
  const { ok, data } = await postJson("/api/token/refresh", { refresh: sessionStorage.getItem("refresh") });
  if (!ok) {
    signOut();
    throw new Error("Your session ended: please sign in again.");
  }
  demo.refreshes++;
  sessionStorage.setItem("access", data.access);
  return data.access;
}

/** connection.fetch (the connection id and Django's CSRF header) plus the JWT that the demo's views check. */
async function send(url, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${await accessToken()}`);
  return demo.connection.fetch(url, { ...init, headers });
}

$("login-form").onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const { ok, data } = await postJson("/api/token", { username: form.get("username"), password: form.get("password") });
  if (!ok) {
    $("login-error").textContent = data.detail || "Could not sign in.";
    return;
  }
  sessionStorage.setItem("access", data.access);
  sessionStorage.setItem("refresh", data.refresh);
  sessionStorage.setItem("username", form.get("username"));
  start();
};

function signOut() {
  sessionStorage.clear();
  demo.connection?.stop();
  showLogin();
}
$("sign-out").onclick = signOut;

function showLogin() {
  $("app").hidden = $("sign-out").hidden = true;
  $("login").hidden = false;
  $("who").textContent = "";
}

// --- chat -------------------------------------------------------------------------------------------------

function status(text, kind) {
  $("status").textContent = text;
  $("status").className = `pill ${kind}`;
}

function log(text, { user, kind = "" } = {}) {
  const item = document.createElement("li");
  item.className = kind;
  if (user) {
    const name = document.createElement("b");
    name.textContent = user;
    item.append(name, " ");
  }
  item.append(text);
  $("log").append(item);
  $("log").scrollTop = $("log").scrollHeight;
}

function showOnline(people) {
  const me = sessionStorage.getItem("username");
  $("online").replaceChildren(
    ...people.map(({ name, tabs }) => {
      const item = document.createElement("li");
      item.textContent = name;
      if (tabs > 1) item.append(` (${tabs} tabs)`);
      if (name === me) item.className = "me";
      return item;
    }),
  );
}

async function join(room) {
  showOnline(await demo.connection.invoke("join", room));
  demo.room = room;
  $("room-name").textContent = $("online-room").textContent = room;
  for (const button of document.querySelectorAll("#rooms button[data-room]")) {
    button.classList.toggle("active", button.dataset.room === room);
  }
}

async function start() {
  $("login").hidden = true;
  $("app").hidden = $("sign-out").hidden = false;
  $("who").textContent = `signed in as ${sessionStorage.getItem("username")}`;
  const connection = (demo.connection = new HubConnectionBuilder()
    .withUrl("/hubs/chat", { accessTokenFactory: accessToken, WebSocket: DroppableWebSocket })
    .withStatefulReconnect() // a lost WebSocket: resume the same connection, losing nothing
    .withAutomaticReconnect(exponentialBackoff({ max: 10000 })) // when that fails (e.g. a server restart)
    .build());
  connection.on("Message", (user, text) => log(text, { user }));
  connection.on("Notice", (text) => log(text, { kind: "notice" }));
  connection.on("PresenceChanged", async ({ group }) => {
    if (group === demo.room) showOnline(await connection.invoke("online", group));
  });
  for (const action of ["created", "updated"]) connection.on(`project.Item.${action}`, showItem);
  connection.on("project.Item.deleted", ({ id }) => removeItem(id));
  connection.on("TaskProgress", showProgress);
  connection.onreconnecting(() => {
    demo.reconnects++;
    status("reconnecting…", "warn");
  });
  connection.onreconnected(async () => {
    status("connected", "on");
    // A reconnect is a new connection: join the room again and catch up with what changed meanwhile.
    await Promise.all([join(demo.room), loadItems(), showTransport()]);
  });
  connection.onclose((error) => status(error ? `offline: ${error.message}` : "offline", "off"));
  status("connecting…", "warn");
  try {
    await connection.start();
  } catch (error) {
    status(`offline: ${error.message}`, "off");
    return;
  }
  status("connected", "on");
  await Promise.all([join(demo.room), loadItems(), showTransport()]);
}

// WebSockets, or Server-Sent Events / long polling when a proxy or the browser blocks them.
async function showTransport() {
  $("transport").textContent = await demo.connection.invoke("transport");
  $("drop").disabled = $("transport").textContent !== "WebSockets";
}

$("say").onsubmit = async (event) => {
  event.preventDefault();
  try {
    await demo.connection.invoke("say", $("text").value);
    $("text").value = "";
  } catch (error) {
    log(error.message, { kind: "error" });
  }
};

$("rooms").onclick = (event) => {
  if (event.target.dataset.room) join(event.target.dataset.room).catch((error) => log(error.message, { kind: "error" }));
};

$("join").onsubmit = (event) => {
  event.preventDefault();
  join($("room").value).catch((error) => log(error.message, { kind: "error" }));
  $("room").value = "";
};

$("announce").onsubmit = async (event) => {
  event.preventDefault();
  // send(): connection.fetch adds the connection id (X-Realtime-Connection-Id) and Django's CSRF header.
  const body = new FormData(event.target);
  event.target.reset();
  await send(event.target.action, { method: "POST", body });
};

// --- the shared list: views change it, broadcast_model reports the changes -------------------------------

async function loadItems() {
  const { items } = await (await fetch("/items")).json();
  $("items").replaceChildren();
  items.forEach(showItem);
}

function showItem(item) {
  let row = document.querySelector(`#items li[data-id="${item.id}"]`);
  if (!row) {
    row = document.createElement("li");
    row.dataset.id = item.id;
    row.innerHTML = '<input type="checkbox"><span></span><button title="delete">×</button>';
    row.querySelector("input").onchange = () => itemAction(item.id, "toggle");
    row.querySelector("button").onclick = () => itemAction(item.id, "delete");
    $("items").append(row);
  }
  row.querySelector("span").textContent = item.title;
  row.querySelector("input").checked = item.done;
  row.classList.toggle("done", item.done);
}

function removeItem(id) {
  document.querySelector(`#items li[data-id="${id}"]`)?.remove();
}

// The page that makes a change applies the view's answer; the broadcast skips it ("to others").
async function itemAction(id, action) {
  const response = await send(`/items/${id}/${action}`, { method: "POST" });
  if (action === "delete") removeItem(id);
  else showItem(await response.json());
}

$("add-item").onsubmit = async (event) => {
  event.preventDefault();
  const body = new FormData(event.target);
  event.target.reset();
  const response = await send("/items/add", { method: "POST", body });
  if (response.ok) showItem(await response.json());
};

// --- the activity feed: Server-Sent Events from a TopicStreamView, no hub connection ----------------------

function showActivity(event) {
  const { text, at } = JSON.parse(event.data);
  const item = document.createElement("li");
  item.title = `event id ${event.lastEventId}`;
  const time = document.createElement("time");
  time.dateTime = at;
  time.textContent = new Date(at).toLocaleTimeString([], { hourCycle: "h23" });
  item.append(time, text);
  $("activity").prepend(item);
}

function openFeed() {
  if (!window.EventSource) {
    $("feed-status").textContent = "no EventSource in this browser";
    return;
  }
  // ?lastEventId=0: replay what the topic keeps; after a drop, EventSource resumes from its Last-Event-ID.
  const source = (demo.feed = new EventSource("/events/activity?lastEventId=0"));
  source.addEventListener("activity", showActivity);
  // The server lost the events we missed (a restart): start again from what comes next.
  source.addEventListener("stream-reset", () => $("activity").replaceChildren());
  source.onopen = () => {
    $("feed-status").textContent = "open";
    $("feed-status").className = "pill on";
  };
  source.onerror = () => {
    $("feed-status").textContent = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting…";
    $("feed-status").className = "pill warn";
  };
}

// --- stateful reconnect: drop the socket while numbers arrive; each one still comes once, in order ----------

/** The browser's WebSocket, remembering the latest socket so that "Drop the connection" can close it. */
const DroppableWebSocket =
  window.WebSocket &&
  class extends WebSocket {
    constructor(...args) {
      super(...args);
      demo.socket = this;
    }
  };

function showCount(total) {
  const { counted, drops } = demo;
  const wrong = counted.filter((number, index) => number !== index + 1).length; // missing, repeated or late
  const dropped = drops ? `; dropped ${drops} time${drops > 1 ? "s" : ""}` : "";
  $("count-text").textContent = total
    ? `${counted.length} of ${total} received: ${wrong ? `${wrong} out of place` : "none missing, none twice"}${dropped}`
    : `${counted.length} received${dropped}…`;
}

$("count").onsubmit = (event) => {
  event.preventDefault();
  const total = 300;
  event.submitter.disabled = true;
  demo.counted = [];
  demo.drops = 0;
  demo.connection.stream("count", total, 20).subscribe({
    next: (number) => {
      demo.counted.push(number);
      showCount();
    },
    complete: () => {
      showCount(total);
      event.submitter.disabled = false;
    },
    error: (error) => {
      $("count-text").textContent = `The count stopped: ${error.message}`;
      event.submitter.disabled = false;
    },
  });
};

// Not a clean close (code 4000): the server keeps the connection for the client, which comes back at once.
$("drop").onclick = () => {
  if (demo.socket?.readyState !== WebSocket.OPEN) return;
  demo.socket.close(4000, "dropped by the demo");
  demo.drops++;
  showCount();
};

// --- the background task ----------------------------------------------------------------------------------

function showProgress({ percent, message, done }) {
  $("progress-bar").style.width = `${percent}%`;
  $("progress-text").textContent = `${Math.round(percent)}%: ${message}`;
  if (done) $("report").querySelector("button").disabled = false;
}

if ($("report")) {
  $("report").onsubmit = async (event) => {
    event.preventDefault();
    event.submitter.disabled = true;
    showProgress({ percent: 0, message: "starting…" });
    await send("/report", { method: "POST" });
  };
}

openFeed();
if (sessionStorage.getItem("refresh")) start();
else showLogin();

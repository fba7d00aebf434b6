#!/usr/bin/env node
// Runs one scenario against texml's REST API with the official twilio
// package, as an app would: the client is made as for Twilio, and only
// its base URL is changed (connect). cmd/texml/e2e_twilio_test.go starts
// `texml serve`, makes the calls the scenario needs and runs this script.
//
//   node scenario.js SCENARIO [key=value ...]
//
// Environment: TEXML_API_URL, the service's base URL (http://host:port);
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, the credentials.
//
// Output, on stdout: the scenario's result as JSON (exit status 0); or,
// when the library throws a RestException, {"restException": {status,
// code, message, moreInfo}} (exit status 2). Any other error goes to
// stderr with exit status 1.
'use strict';

const twilio = require('twilio');

// connect makes a client for texml's API. The one line that differs from
// a Twilio app is the baseUrl: every resource of the 2010-04-01 API
// (Recordings, Queues, Conferences, Calls) is built on client.api, and
// its next_page_uri is resolved against the same base.
function connect(token = process.env.TWILIO_AUTH_TOKEN) {
  const client = twilio(process.env.TWILIO_ACCOUNT_SID, token);
  client.api.baseUrl = process.env.TEXML_API_URL;
  return client;
}

// restError runs f, which must throw a RestException, and describes it.
async function restError(f) {
  try {
    await f();
  } catch (e) {
    if (e instanceof twilio.RestException) {
      return describe(e);
    }
    throw e;
  }
  throw new Error('want a RestException, the request succeeded');
}

function describe(e) {
  return { status: e.status, code: e.code, message: e.message, moreInfo: e.moreInfo };
}

// need returns params[name], failing when it is missing.
function need(params, name) {
  if (params[name] === undefined || params[name] === '') {
    throw new Error(`parameter ${name}= is required`);
  }
  return params[name];
}

// defined drops the undefined values of o: the library sends what it is
// given, and a scenario passes only what its caller set.
function defined(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

// poll calls f until ok(its result), every 100 ms for at most 15 s: what
// the scenario waits for (a call answered, a caller in a queue) happens
// on texml's time, not the script's.
async function poll(what, f, ok) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const got = await f();
    if (ok(got)) {
      return got;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} after 15 s: ${JSON.stringify(got)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// waitStatus fetches a call until its status is one of want (a
// comma-separated list).
function waitStatus(client, sid, want) {
  return poll(`call ${sid} not ${want}`, () => client.calls(sid).fetch(), (c) => want.split(',').includes(c.status));
}

const scenarios = {
  // errors: wrong credentials, and a recording that does not exist.
  async errors() {
    return {
      wrongToken: await restError(() => connect('wrong-token').recordings.list()),
      unknownRecording: await restError(() => connect().recordings('RE' + '0'.repeat(32)).fetch()),
    };
  },

  // recordings call=CA…: the call's recordings are listed; the first is
  // fetched, then deleted, after which it is neither listed nor fetched.
  async recordings(p) {
    const client = connect();
    const callSid = need(p, 'call');
    const listed = await client.recordings.list({ callSid });
    if (listed.length === 0) {
      throw new Error(`no recording of ${callSid}`);
    }
    const fetched = await client.recordings(listed[0].sid).fetch();
    const removed = await client.recordings(fetched.sid).remove();
    const after = await client.recordings.list({ callSid });
    const fetchRemoved = await restError(() => client.recordings(fetched.sid).fetch());
    return { listed, fetched, removed, after: after.map((r) => r.sid), fetchRemoved };
  },

  // paging resource=recordings|calls pageSize=N: list() with that page
  // size, and the same walked page by page with page() and nextPage().
  async paging(p) {
    const client = connect();
    const resource = need(p, 'resource');
    const pageSize = Number(need(p, 'pageSize'));
    const list = client[resource];
    const all = await list.list({ pageSize });
    const pages = [];
    for (let page = await list.page({ pageSize }); page; page = await page.nextPage()) {
      pages.push(page.instances.map((i) => i.sid));
      if (pages.length > 100) {
        throw new Error('more than 100 pages: nextPage does not end');
      }
    }
    return { all: all.map((i) => i.sid), pages };
  },

  // queue name=… url=… [method=…]: once the list shows the queue with a
  // caller in it, it is fetched, its members listed, and the front
  // member dequeued to url.
  async queue(p) {
    const client = connect();
    const name = need(p, 'name');
    const queues = await poll(`no caller in queue ${name}`, () => client.queues.list(),
      (qs) => qs.some((q) => q.friendlyName === name && q.currentSize > 0));
    const found = queues.find((q) => q.friendlyName === name);
    const queue = await client.queues(found.sid).fetch();
    const members = await client.queues(found.sid).members.list();
    const dequeued = await client.queues(found.sid).members('Front').update(defined({ url: need(p, 'url'), method: p.method }));
    return { queues, queue, members, dequeued };
  },

  // conference name=… participants=N mute=CA… remove=CA…: once the room
  // is among the rooms in progress with N participants, one is muted (and
  // fetched), another removed, and the participants listed again.
  async conference(p) {
    const client = connect();
    const name = need(p, 'name');
    // Filtered by name too: other tests' rooms may be in progress.
    const rooms = await poll(`conference ${name} not in progress`,
      () => client.conferences.list({ status: 'in-progress', friendlyName: name }),
      (rs) => rs.some((r) => r.friendlyName === name));
    const room = rooms.find((r) => r.friendlyName === name);
    const participants = client.conferences(room.sid).participants;
    const listed = await poll(`conference ${name} has fewer than ${need(p, 'participants')} participants`,
      () => participants.list(), (ps) => ps.length >= Number(p.participants));
    const muted = await participants(need(p, 'mute')).update({ muted: true });
    const fetched = await participants(p.mute).fetch();
    const removed = await participants(need(p, 'remove')).remove();
    const after = await participants.list();
    return { rooms, listed, muted, fetched, removed, after: after.map((x) => x.callSid) };
  },

  // queue-admin name=…: a queue is created, resized and renamed, listed,
  // and deleted; a second create of the name is refused.
  async 'queue-admin'(p) {
    const client = connect();
    const name = need(p, 'name');
    const created = await client.queues.create({ friendlyName: name, maxSize: 20 });
    const duplicate = await restError(() => client.queues.create({ friendlyName: name }));
    const updated = await client.queues(created.sid).update({ friendlyName: `${name}-renamed`, maxSize: 30 });
    const listed = (await client.queues.list()).map((q) => q.friendlyName);
    const removed = await client.queues(created.sid).remove();
    const gone = await restError(() => client.queues(created.sid).fetch());
    return { created, duplicate, updated, listed, removed, gone };
  },

  // participant-create name=… to=… from=… announce=URL: once the room
  // exists (one caller waits in it: status init), a participant is dialed
  // into it, which starts it, and an announcement is played to the room.
  async 'participant-create'(p) {
    const client = connect();
    const name = need(p, 'name');
    const rooms = await poll(`no conference ${name}`, () => client.conferences.list({ friendlyName: name }),
      (rs) => rs.some((r) => r.friendlyName === name));
    const room = rooms.find((r) => r.friendlyName === name);
    const created = await client.conferences(room.sid).participants.create({ to: need(p, 'to'), from: need(p, 'from'), label: 'dialed' });
    const listed = await poll(`the dialed participant never joined ${name}`, () => client.conferences(room.sid).participants.list(),
      (ps) => ps.some((x) => x.callSid === created.callSid));
    await poll(`conference ${name} never started`, () => client.conferences(room.sid).fetch(), (r) => r.status === 'in-progress');
    const announced = await client.conferences(room.sid).update({ announceUrl: need(p, 'announce') });
    return { created, listed: listed.map((x) => x.callSid), announced };
  },

  // call-create to=… from=… twiml=…|url=… [method= timeout= count=N
  // wait=status,…]: count calls are created (default 1) and, with wait,
  // each is fetched until its status is one of those.
  async 'call-create'(p) {
    const client = connect();
    const params = defined({
      to: need(p, 'to'), from: need(p, 'from'), twiml: p.twiml, url: p.url, method: p.method,
      timeout: p.timeout === undefined ? undefined : Number(p.timeout),
    });
    const n = Number(p.count || 1);
    const created = await Promise.all(Array.from({ length: n }, () => client.calls.create(params)));
    const fetched = p.wait ? await Promise.all(created.map((c) => waitStatus(client, c.sid, p.wait))) : [];
    return { created, fetched };
  },

  // call-update sid=CA… twiml=…|url=…|status=… [method= wait=status,…]
  async 'call-update'(p) {
    const client = connect();
    const sid = need(p, 'sid');
    const updated = await client.calls(sid).update(defined({ twiml: p.twiml, url: p.url, method: p.method, status: p.status }));
    const fetched = p.wait ? await waitStatus(client, sid, p.wait) : undefined;
    return { updated, fetched };
  },
};

async function main() {
  const [name, ...args] = process.argv.slice(2);
  const scenario = scenarios[name];
  if (!scenario) {
    throw new Error(`usage: node scenario.js ${Object.keys(scenarios).join('|')} [key=value ...]`);
  }
  for (const v of ['TEXML_API_URL', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN']) {
    if (!process.env[v]) {
      throw new Error(`${v} is not set`);
    }
  }
  const params = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i < 1) {
      throw new Error(`want key=value, got ${a}`);
    }
    params[a.slice(0, i)] = a.slice(i + 1);
  }
  try {
    process.stdout.write(JSON.stringify(await scenario(params)) + '\n');
  } catch (e) {
    if (e instanceof twilio.RestException) {
      process.stdout.write(JSON.stringify({ restException: describe(e) }) + '\n');
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exitCode = 1;
});

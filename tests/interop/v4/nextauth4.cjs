// Runs next-auth v4's own JWT code on a batch of requests: a JSON array on stdin, one result each
// on stdout. A request names its `op`; a failure becomes `{"error": <jose code or message>}`.
"use strict"

const fs = require("node:fs")
const path = require("node:path")
const cookie = require("cookie")
const { hkdf } = require("@panva/hkdf")
const { EncryptJWT } = require("jose")
const { decode, encode, getToken } = require("next-auth/jwt")
// The session cookie's chunking is not exported; this is the module next-auth itself uses.
const { SessionStore } = require(path.join(__dirname, "node_modules", "next-auth", "core", "lib", "cookie.js"))

const silent = { debug() {}, warn() {}, error() {} }

const ops = {
  async encode({ claims, secret, maxAge }) {
    return { token: await encode({ token: claims, secret, maxAge }) }
  },
  async decode({ token, secret }) {
    return { claims: await decode({ token, secret }) }
  },
  // As an API route sees a request: cookies parsed from the header, headers in lower case.
  async getToken({ cookieHeader = "", authorization, secret, secureCookie = false }) {
    const headers = authorization === undefined ? {} : { authorization }
    const req = { cookies: cookie.parse(cookieHeader), headers }
    return { claims: await getToken({ req, secret, secureCookie, logger: silent }) }
  },
  // The cookies next-auth finds in each Cookie header: `cookie.parse` of the `cookie` it depends on.
  parseCookies({ headers }) {
    return { cookies: headers.map((header) => cookie.parse(header)) }
  },
  chunk({ name, value }) {
    const store = new SessionStore({ name, options: {} }, { cookies: {}, headers: {} }, silent)
    return { cookies: store.chunk(value, {}).map((c) => [c.name, c.value]) }
  },
  // next-auth never compresses, but jose decrypts `zip: "DEF"`: the same key, compressed.
  async encodeCompressed({ claims, secret }) {
    const key = await hkdf("sha256", secret, "", "NextAuth.js Generated Encryption Key", 32)
    const jwt = new EncryptJWT(claims).setProtectedHeader({ alg: "dir", enc: "A256GCM", zip: "DEF" })
    return { token: await jwt.setIssuedAt().setExpirationTime("1h").encrypt(key) }
  },
}

async function run(request) {
  try {
    return await ops[request.op](request)
  } catch (error) {
    return { error: error.code ?? error.message }
  }
}

const requests = JSON.parse(fs.readFileSync(0, "utf8"))
Promise.all(requests.map(run)).then((results) => process.stdout.write(JSON.stringify(results)))

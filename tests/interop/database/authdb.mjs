// Runs Auth.js's own database session code on a batch of requests: a JSON array on stdin, one
// result each on stdout, in order (a request may depend on the ones before it). A request names
// its `op` and, but for `ddl`, the `setup` (adapter and database) and the database `url`; a
// failure becomes `{"error": <message>}`.
//
// The official adapters write users and sessions (`createUser`, `createSession`, `deleteSession`),
// and @auth/core's `Auth()` answers `GET /api/auth/session` for a cookie, as an app's
// `auth()` does. Prisma's engine cannot run here: its rows are written with the statements
// Prisma Client sends, and read back through the Kysely adapter, whose tables have the same names.
import { randomBytes, randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { Auth } from "@auth/core"
import GitHub from "@auth/core/providers/github"
import { DrizzleAdapter } from "@auth/drizzle-adapter"
import { KyselyAdapter } from "@auth/kysely-adapter"
import PostgresAdapter from "@auth/pg-adapter"
import { drizzle as drizzleMysql } from "drizzle-orm/mysql2"
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres"
import { Kysely, MysqlDialect, PostgresDialect, sql } from "kysely"
import mysql from "mysql2"
import pg from "pg"

// The default tables of @auth/drizzle-adapter are not exported; these are the modules it uses.
const drizzleTables = {
  postgresql: await import(new URL("./node_modules/@auth/drizzle-adapter/lib/pg.js", import.meta.url).href),
  mysql: await import(new URL("./node_modules/@auth/drizzle-adapter/lib/mysql.js", import.meta.url).href),
}

const silent = { debug() {}, warn() {}, error() {} }
const pools = []

// Prisma reads a column without time zone as UTC; so does the Kysely adapter that stands in for it.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMP, (text) => new Date(`${text.replace(" ", "T")}Z`))

function pgPool(url) {
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  pools.push(() => pool.end())
  return pool
}

function mysqlPool(url) {
  const pool = mysql.createPool({ uri: url, connectionLimit: 2, timezone: "Z" })
  pools.push(() => new Promise((resolve) => pool.end(resolve)))
  return pool
}

// Prisma Client's statements for the two calls the tests need, with a cuid-shaped id.
function prismaWriter(dialect, pool) {
  const cuid = () => "c" + randomBytes(12).toString("hex")
  const run = (text, values) => (dialect === "postgresql" ? pool.query(text, values) : pool.promise().query(text, values))
  const q = dialect === "postgresql" ? (name) => `"${name}"` : (name) => `\`${name}\``
  const marks = (count) => Array.from({ length: count }, (_, i) => (dialect === "postgresql" ? `$${i + 1}` : "?")).join(", ")
  return {
    async createUser({ name, email, image }) {
      const id = cuid()
      await run(
        `INSERT INTO ${q("User")} (${q("id")}, ${q("name")}, ${q("email")}, ${q("image")}, ${q("updatedAt")}) VALUES (${marks(5)})`,
        [id, name ?? null, email ?? null, image ?? null, new Date()],
      )
      return { id, name, email, image }
    },
    async createSession({ sessionToken, userId, expires }) {
      const columns = [q("sessionToken"), q("userId"), q("expires"), q("updatedAt")]
      const values = [sessionToken, userId, expires, new Date()]
      if (dialect === "mysql") {
        columns.unshift(q("id"))
        values.unshift(cuid())
      }
      await run(`INSERT INTO ${q("Session")} (${columns.join(", ")}) VALUES (${marks(values.length)})`, values)
      return { sessionToken, userId, expires }
    },
  }
}

const adapters = new Map()

// The adapter of `setup` on the database at `url`: what writes, and what `Auth()` reads through.
function adapterFor(setup, url) {
  const key = `${setup} ${url}`
  if (!adapters.has(key)) {
    const [name, dialect] = setup.split("/")
    let writer, reader
    if (name === "pg") {
      writer = reader = PostgresAdapter(pgPool(url))
    } else if (name === "drizzle") {
      const db = dialect === "postgresql" ? drizzlePg(pgPool(url)) : drizzleMysql(mysqlPool(url), { mode: "default" })
      writer = reader = DrizzleAdapter(db)
    } else {
      const pool = dialect === "postgresql" ? pgPool(url) : mysqlPool(url)
      const kyselyDialect = dialect === "postgresql" ? new PostgresDialect({ pool }) : new MysqlDialect({ pool })
      reader = KyselyAdapter(new Kysely({ dialect: kyselyDialect }))
      writer = name === "kysely" ? reader : prismaWriter(dialect, pool)
    }
    adapters.set(key, { writer, reader })
  }
  return adapters.get(key)
}

const config = (adapter) => ({
  adapter,
  providers: [GitHub({ clientId: "interop", clientSecret: "interop" })],
  secret: "interop secret for database sessions",
  trustHost: true,
  basePath: "/api/auth",
  logger: silent,
  session: { strategy: "database" },
  // As Auth.js's guide shows, to give the app the user's id.
  callbacks: {
    session({ session, user }) {
      session.user.id = user.id
      return session
    },
  },
})

// The DDL the tools make of each adapter's documented tables: drizzle-kit for Drizzle's default
// tables, Kysely for the migration in Auth.js's Kysely guide.
async function ddl(setup) {
  // drizzle-kit takes a second to load, and only this needs it.
  const { generateDrizzleJson, generateMigration, generateMySQLDrizzleJson, generateMySQLMigration } =
    await import("drizzle-kit/api")
  if (setup === "drizzle/postgresql") {
    const { usersTable, sessionsTable } = drizzleTables.postgresql.defineTables()
    return generateMigration(generateDrizzleJson({}), generateDrizzleJson({ usersTable, sessionsTable }))
  }
  if (setup === "drizzle/mysql") {
    const { usersTable, sessionsTable } = drizzleTables.mysql.defineTables()
    const [before, after] = [await generateMySQLDrizzleJson({}), await generateMySQLDrizzleJson({ usersTable, sessionsTable })]
    return generateMySQLMigration(before, after)
  }
  const db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool() }) })
  const user = db.schema
    .createTable("User")
    .addColumn("id", "uuid", (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("name", "text")
    .addColumn("email", "text", (col) => col.unique().notNull())
    .addColumn("emailVerified", "timestamptz")
    .addColumn("image", "text")
  const session = db.schema
    .createTable("Session")
    .addColumn("id", "uuid", (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("userId", "uuid", (col) => col.references("User.id").onDelete("cascade").notNull())
    .addColumn("sessionToken", "text", (col) => col.notNull().unique())
    .addColumn("expires", "timestamptz", (col) => col.notNull())
  const index = db.schema.createIndex("Session_userId_index").on("Session").column("userId")
  return [user, session, index].map((builder) => builder.compile().sql)
}

const ops = {
  async ddl({ setup }) {
    return { statements: await ddl(setup) }
  },
  async createUser({ setup, url, user }) {
    const created = await adapterFor(setup, url).writer.createUser({ ...user, emailVerified: null })
    return { id: created.id }
  },
  // As @auth/core signs a user in: its generateSessionToken(), and `expires` as given.
  async createSession({ setup, url, userId, expires }) {
    const sessionToken = randomUUID()
    await adapterFor(setup, url).writer.createSession({ sessionToken, userId, expires: new Date(expires) })
    return { sessionToken }
  },
  async deleteSession({ setup, url, sessionToken }) {
    await adapterFor(setup, url).reader.deleteSession(sessionToken)
    return {}
  },
  async session({ setup, url, cookie }) {
    const request = new Request("http://localhost:3000/api/auth/session", { headers: { cookie } })
    const response = await Auth(request, config(adapterFor(setup, url).reader))
    return { status: response.status, body: await response.json() }
  },
}

const results = []
for (const request of JSON.parse(readFileSync(0, "utf8"))) {
  try {
    results.push(await ops[request.op](request))
  } catch (error) {
    results.push({ error: error.message })
  }
}
await Promise.all(pools.map((end) => end()))
process.stdout.write(JSON.stringify(results))

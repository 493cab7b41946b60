// `xmpp-maildir import` from the SQL stores real servers wrote: real clients chat through a real
// ejabberd (SQLite, PostgreSQL) and a real Prosody (storage = "sql": SQLite, PostgreSQL), the server
// stops, the CLI imports its database into Maildirs that a real Dovecot serves, and IMAP reads
// back the folders live chat history would use: Chats (\Seen) for one-to-one history, INBOX
// (unseen) for what is still waiting offline. A second import writes nothing.
import { after, before, describe, test } from "node:test";
import path from "node:path";
import { startEjabberd } from "../../harness/ejabberd.js";
import { currentGeneration, onServers } from "../../harness/generation.js";
import { startPostgres, type Postgres } from "../../harness/postgres.js";
import { startProsody } from "../../harness/prosody.js";
import { makeTempDir, removeDir } from "../../harness/tmp.js";
import { COMPONENT, converse, DOMAIN, importAndCheck, PASSWORD, readable, USERS, type Server } from "../support/import-history.js";

/** The harness waits for our module's start line; with no component connected it only queues copies. */
const MODULE = { mod_xmpp_maildir: { component: COMPONENT } };

function ejabberdSql(sqlLines: string[]): string {
  return ["default_db: sql", ...sqlLines].join("\n");
}

describe(onServers("import from ejabberd's SQL archive"), () => {
  for (const newSchema of [false, true]) {
    test(`SQLite (${newSchema ? "new" : "default"} schema): archive and spool into Chats and INBOX, twice`, async () => {
      const dir = await makeTempDir("xmd-import-ej-");
      let server: Server | undefined;
      try {
        const db = path.join(dir, "ejabberd", "spool", "ejabberd.db");
        const ej = await startEjabberd({
          dir: path.join(dir, "ejabberd"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused",
          users: USERS.map((username) => ({ username, password: PASSWORD })),
          modules: MODULE,
          extraConfig: ejabberdSql(["sql_type: sqlite", `sql_database: ${JSON.stringify(db)}`, `new_sql_schema: ${newSchema}`]),
        });
        server = ej;
        await converse(ej.c2sPort);
        await ej.stop();
        await readable(path.join(dir, "ejabberd"));
        await importAndCheck(dir, `ejabberd+sqlite:${db}`, newSchema ? [] : ["--user-domain", DOMAIN]);
      } finally {
        await server?.stop();
        await removeDir(dir);
      }
    });
  }

  describe("PostgreSQL", () => {
    let pgServer: Postgres;
    before(async () => {
      pgServer = await startPostgres();
    });
    after(async () => {
      await pgServer?.stop();
    });
    for (const newSchema of [false, true]) {
      test(`PostgreSQL (${newSchema ? "new" : "default"} schema): archive and spool into Chats and INBOX, twice`, async () => {
        const dir = await makeTempDir("xmd-import-ejpg-");
        let server: Server | undefined;
        try {
          const database = await pgServer.createDatabase(`ej${newSchema ? "new" : "old"}`);
          await pgServer.loadSchema(database, ejabberdSchemaFile(newSchema));
          const ej = await startEjabberd({
            dir: path.join(dir, "ejabberd"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused",
            users: USERS.map((username) => ({ username, password: PASSWORD })),
            modules: MODULE,
            extraConfig: ejabberdSql([
              "sql_type: pgsql", `sql_server: "127.0.0.1"`, `sql_port: ${pgServer.port}`, `sql_database: ${JSON.stringify(database)}`,
              `sql_username: ${JSON.stringify(pgServer.user)}`, `sql_password: ${JSON.stringify(pgServer.password)}`, `new_sql_schema: ${newSchema}`,
            ]),
          });
          server = ej;
          await converse(ej.c2sPort);
          await ej.stop();
          await importAndCheck(dir, `ejabberd+${pgServer.dsn(database)}`, newSchema ? [] : ["--user-domain", DOMAIN]);
        } finally {
          await server?.stop();
          await removeDir(dir);
        }
      });
    }
  });
});

describe(onServers("import from Prosody's SQL storage"), () => {
  test("SQLite: prosodyarchive (archive and offline) into Chats and INBOX, twice", async () => {
    const dir = await makeTempDir("xmd-import-pr-");
    let server: Server | undefined;
    try {
      const prosody = await startProsody({
        dir: path.join(dir, "prosody"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused",
        users: USERS.map((username) => ({ username, password: PASSWORD })),
        modules: ["mam"],
        extraHostConfig: [`storage = "sql"`, `sql = { driver = "SQLite3", database = "prosody.sqlite" }`].join("\n"),
      });
      server = prosody;
      await converse(prosody.c2sPort);
      await prosody.stop();
      await readable(path.join(dir, "prosody"));
      await importAndCheck(dir, `prosody+sqlite:${path.join(dir, "prosody", "data", "prosody.sqlite")}`);
    } finally {
      await server?.stop();
      await removeDir(dir);
    }
  });

  test("PostgreSQL: prosodyarchive (archive and offline) into Chats and INBOX, twice", async () => {
    const dir = await makeTempDir("xmd-import-prpg-");
    const pgServer = await startPostgres();
    let server: Server | undefined;
    try {
      const database = await pgServer.createDatabase("prosody");
      const prosody = await startProsody({
        dir: path.join(dir, "prosody"), domain: DOMAIN, componentDomain: COMPONENT, componentSecret: "unused",
        users: USERS.map((username) => ({ username, password: PASSWORD })),
        modules: ["mam"],
        extraHostConfig: [
          `storage = "sql"`,
          `sql = { driver = "PostgreSQL", database = ${JSON.stringify(database)}, host = "127.0.0.1", port = ${pgServer.port}, username = ${JSON.stringify(pgServer.user)}, password = ${JSON.stringify(pgServer.password)} }`,
        ].join("\n"),
      });
      server = prosody;
      await converse(prosody.c2sPort);
      await prosody.stop();
      await importAndCheck(dir, `prosody+${pgServer.dsn(database)}`);
    } finally {
      await server?.stop();
      await pgServer.stop();
      await removeDir(dir);
    }
  });
});

/** ejabberd's own schema files, from the generation under test (23.01 or 24.x). */
function ejabberdSchemaFile(newSchema: boolean): string {
  return path.join(currentGeneration().root ?? "/", "usr/share/ejabberd/sql", newSchema ? "pg.new.sql" : "pg.sql");
}

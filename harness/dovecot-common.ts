/**
 * The parts of the harness's dovecot.conf that both syntaxes (2.3 and 2.4) share: runtime paths
 * in one directory, logging, loopback listeners, login users, and the services. Each version's
 * file adds what it spells differently (cleartext auth, mail location, passdb/userdb).
 */
import type { DovecotConfigInput } from "./dovecot-config.js";

/** Global settings, in the order both versions accept; `cleartext` is the version's own line. */
export function commonSettings(input: DovecotConfigInput, cleartext: string): string[] {
  const { paths } = input;
  return [
    `instance_name = ${input.instanceName}`,
    `base_dir = ${paths.baseDir}`,
    `state_dir = ${paths.stateDir}`,
    `log_path = ${paths.log}`,
    `info_log_path = ${paths.log}`,
    `debug_log_path = ${paths.log}`,
    "auth_verbose = yes",
    // A wrong password is answered at once instead of after 2 s, so tests of refused logins stay fast.
    "auth_failure_delay = 0",
    // The whole list: 2.4 no longer expands $protocols.
    input.lmtpPort ? "protocols = imap lmtp" : "protocols = imap",
    "listen = 127.0.0.1",
    "ssl = no",
    cleartext,
    "auth_mechanisms = plain",
    `default_login_user = ${input.loginUser}`,
    `default_internal_user = ${input.internalUser}`,
    `default_internal_group = ${input.internalGroup}`,
    // Dovecot refuses mail uids below first_valid_uid (default 500).
    `first_valid_uid = ${input.uid}`,
    `first_valid_gid = ${input.gid}`,
  ];
}

/**
 * IMAP on its port (no IMAPS), LMTP when asked, and the extra lines last. An inet_listener's
 * address is `address` in 2.3 and `listen` in 2.4.
 */
export function commonServices(input: DovecotConfigInput, listenerAddressKey: "address" | "listen"): string[] {
  // Without root, chroot() fails; these two services chroot by default.
  const noChroot = input.chroot ? [] : ["  chroot ="];
  const anvil = input.chroot ? [] : ["service anvil {", "  chroot =", "}"];
  return [
    "service imap-login {",
    "  inet_listener imap {",
    `    port = ${input.imapPort}`,
    "  }",
    "  inet_listener imaps {",
    "    port = 0",
    "  }",
    ...noChroot,
    "}",
    ...anvil,
    ...(input.lmtpPort
      ? ["service lmtp {", "  inet_listener lmtp {", `    ${listenerAddressKey} = 127.0.0.1`, `    port = ${input.lmtpPort}`, "  }", "}"]
      : []),
    // The same lines in 2.3 and 2.4; a relative listener name is inside base_dir. 0666: Postfix's
    // smtpd (user postfix) connects; the socket only checks passwords of the test's users.
    ...(input.authSocket ? ["service auth {", `  unix_listener ${input.authSocket} {`, "    mode = 0666", "  }", "}"] : []),
    ...(input.extraConfig ?? []),
    "",
  ];
}

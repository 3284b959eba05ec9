/**
 * Host key verification against OpenSSH known_hosts files: plain names and
 * patterns (* ? and ! negation), `[host]:port` for other ports, hashed
 * entries (|1|salt|hmac-sha1), and @revoked markers. Pure apart from reading
 * the files. https://man.openbsd.org/sshd.8#SSH_KNOWN_HOSTS_FILE_FORMAT
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';

export type Verdict = { ok: true } | { ok: false; reason: 'unknown' | 'changed' | 'revoked'; file?: string; line?: number };

/** The name known_hosts uses for a host: `host`, or `[host]:port` off port 22. */
export const hostKeyName = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

function globMatch(pattern: string, name: string): boolean {
  // Only * and ? are special in known_hosts patterns; [host]:port brackets are literal.
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
  return re.test(name);
}

function hostsMatch(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const h = crypto.createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return h === hash;
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** Does `key` (the raw public key blob the server showed) belong to host:port? */
export function verifyHostKey(files: string[], host: string, port: number, key: Buffer): Verdict {
  const name = hostKeyName(host, port);
  let sawHost: { file: string; line: number } | null = null;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line || line.startsWith('#')) continue;
      let parts = line.split(/\s+/);
      let marker: string | null = null;
      if (parts[0]!.startsWith('@')) {
        marker = parts[0]!;
        parts = parts.slice(1);
      }
      const [hosts, , blob] = parts;
      if (!hosts || !blob || !hostsMatch(hosts, name)) continue;
      if (marker === '@cert-authority') continue; // certificates are not supported: such a line neither allows nor forbids
      const same = Buffer.from(blob, 'base64').equals(key);
      if (marker === '@revoked') {
        if (same) return { ok: false, reason: 'revoked', file, line: i + 1 };
        continue;
      }
      if (same) return { ok: true };
      sawHost ??= { file, line: i + 1 };
    }
  }
  return sawHost ? { ok: false, reason: 'changed', ...sawHost } : { ok: false, reason: 'unknown' };
}

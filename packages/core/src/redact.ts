/**
 * Replaces the password of a URL-shaped text by `***`, for error messages, logs and events: a
 * cache URL carries credentials (`redis://user:S3CRET@h1:6379`). Works on text that does not
 * parse as a URL too (a bad port, a server list), since that is exactly what error messages
 * quote; the user name stays, so the message still says which account was meant.
 *
 * @example
 * redactUrl('redis://app:S3CRET@h1:99999'); // 'redis://app:***@h1:99999'
 */
export function redactUrl(text: string | URL): string {
  const raw = typeof text === 'string' ? text : text.href;
  // scheme://[user[:password]@]rest — the userinfo ends at the last '@' before any '/', '?', '#'.
  return raw.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i,
    (_match, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return colon < 0 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
    },
  );
}

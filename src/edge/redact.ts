// What of a request target may be logged: never a signature or a token,
// however its name is spelled (names are compared decoded, as a server reads them).
const SECRET_NAMES = new Set(['sig', 'token', 'signature', 'access_token']);

function decodedName(part: string): string {
  const eq = part.indexOf('=');
  const name = eq === -1 ? part : part.slice(0, eq);
  try {
    return decodeURIComponent(name.replaceAll('+', ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

export function redactTarget(target: string): string {
  // Clipped first, so that a secret cut short is still recognised by its name.
  const clipped = target.length > 512 ? `${target.slice(0, 512)}…` : target;
  const q = clipped.indexOf('?');
  if (q === -1) return clipped;
  const params = clipped
    .slice(q + 1)
    .split('&')
    .map((part) => (SECRET_NAMES.has(decodedName(part)) ? `${part.split('=')[0]}=[redacted]` : part));
  return `${clipped.slice(0, q)}?${params.join('&')}`;
}

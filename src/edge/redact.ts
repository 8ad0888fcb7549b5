// What of a request target may be logged: never a signature or a token.
const SECRET_PARAMS = /([?&](?:sig|token|signature|access_token)=)[^&]*/gi;

export function redactTarget(target: string): string {
  const clipped = target.length > 512 ? `${target.slice(0, 512)}…` : target;
  return clipped.replace(SECRET_PARAMS, '$1[redacted]');
}

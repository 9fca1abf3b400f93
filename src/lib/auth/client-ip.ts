/** The client's IP for rate limits: from the socket, or from X-Forwarded-For past trusted proxies only. */
import { BlockList, isIP } from 'node:net';

/**
 * The header Better-Auth's rate limiter keys on. Only our server code sets it (src/serve.ts strips
 * any incoming value first), so a client cannot pick its own bucket.
 */
export const CLIENT_IP_HEADER = 'x-bountyexpo-client-ip';

const unmapIpv4 = (ip: string): string => (ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip);

function proxyList(trustedProxies: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) continue;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

const isTrusted = (list: BlockList, ip: string): boolean => {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
};

/**
 * The client's IP: the direct peer, unless the peer is a trusted proxy; then X-Forwarded-For is
 * walked right to left past trusted hops (the left end is whatever the client wrote, so it is
 * only believed when every hop after it is ours).
 */
export function resolveClientIp(peer: string | null | undefined, forwardedFor: string | null, trustedProxies: readonly string[]): string | null {
  if (!peer || isIP(peer) === 0) return null;
  const direct = unmapIpv4(peer);
  if (trustedProxies.length === 0 || !forwardedFor) return direct;
  const proxies = proxyList(trustedProxies);
  if (!isTrusted(proxies, direct)) return direct;
  const hops = forwardedFor.split(',').map((hop) => unmapIpv4(hop.trim()));
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hops[index] ?? '';
    if (isIP(hop) === 0) return direct; // a garbled chain: fall back to the proxy itself
    if (!isTrusted(proxies, hop)) return hop;
  }
  return direct;
}

/** What src/serve.ts does to every request before the app sees it. */
export function stampClientIp(request: Request, peer: string | null | undefined, trustedProxies: readonly string[]): Request {
  const ip = resolveClientIp(peer, request.headers.get('x-forwarded-for'), trustedProxies);
  request.headers.delete(CLIENT_IP_HEADER);
  if (ip) request.headers.set(CLIENT_IP_HEADER, ip);
  return request;
}

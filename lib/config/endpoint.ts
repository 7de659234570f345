/** The ZeroMQ endpoint to bind `host:port` on (`0.0.0.0` and `*` mean every interface). */
export function bindEndpoint(host: string, port: number): string {
  return `tcp://${host === "0.0.0.0" ? "*" : bracket(host)}:${port}`;
}

/** The ZeroMQ endpoint to connect to `host:port` (IPv6 addresses in brackets). */
export function connectEndpoint(host: string, port: number): string {
  return `tcp://${bracket(host)}:${port}`;
}

function bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * The host-noise control's server: a bare Bun.serve on a loopback port that
 * answers every request with a constant small JSON body, doing no work of its
 * own. Whatever latency the load client measures against it comes from the
 * host (CPU contention, a stalled vCPU) or from the client itself, never from
 * Vigil. Prints its port on stdout; runs until killed.
 */
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ ok: true }) });
console.log(server.port);

/**
 * The dashboard's one way to the service: the token is kept in this tab's
 * sessionStorage and sent as a bearer header, never in a URL. Streams are
 * read with fetch (EventSource cannot send a header) and parsed as SSE.
 */
const TOKEN_KEY = "vigil-token";

export type Scope = "admin" | "read";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class Api {
  constructor(private readonly token: string) {}

  /** Checks the token; keeps it for this tab when it works. */
  static async signIn(token: string): Promise<{ api: Api; scope: Scope }> {
    const api = new Api(token);
    const who = await api.get<{ scope: Scope }>("/v1/whoami");
    sessionStorage.setItem(TOKEN_KEY, token);
    return { api, scope: who.scope };
  }

  private headers(json = false): HeadersInit {
    return { authorization: `Bearer ${this.token}`, ...(json ? { "content-type": "application/json" } : {}) };
  }

  async get<T>(path: string): Promise<T> {
    return this.answer<T>(await fetch(path, { headers: this.headers() }));
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.answer<T>(await fetch(path, { method: "POST", headers: this.headers(true), body: JSON.stringify(body) }));
  }

  private async answer<T>(r: Response): Promise<T> {
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON (metrics) */
    }
    if (!r.ok) throw new ApiError(r.status, (body as { message?: string })?.message ?? `${r.status}`);
    return body as T;
  }

  /** Server-sent events of `path`, until `signal` aborts; each as (event type, data, id). */
  async stream(path: string, onEvent: (type: string, data: string, id: string | null) => void, signal: AbortSignal): Promise<void> {
    const r = await fetch(path, { headers: this.headers(), signal });
    if (!r.ok || !r.body) throw new ApiError(r.status, `stream refused (${r.status})`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = "message";
        let id: string | null = null;
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) type = line.slice(7);
          else if (line.startsWith("id: ")) id = line.slice(4);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) onEvent(type, data.join("\n"), id);
      }
    }
  }
}

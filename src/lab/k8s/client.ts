/**
 * The small Kubernetes client the lab's in-node daemons use, configured the way client-go's
 * in-cluster config is: the service account's token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount, and the API server's URL (flanneld's
 * --kube-api-url). Errors are one line naming the request and the server's Status message.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Json, JsonObject } from './patch.js';

export const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export class KubeClient {
  private readonly ca: Buffer;
  private readonly token: string;

  constructor(
    private readonly server: string,
    dir = SERVICE_ACCOUNT,
  ) {
    this.ca = readFileSync(`${dir}/ca.crt`);
    this.token = readFileSync(`${dir}/token`, 'utf8').trim();
  }

  get(path: string): Promise<JsonObject> {
    return this.call('GET', path);
  }

  /** A strategic merge patch, as client-go's Patch(types.StrategicMergePatchType, …). */
  patch(path: string, body: Json): Promise<JsonObject> {
    return this.call('PATCH', path, JSON.stringify(body), 'application/strategic-merge-patch+json');
  }

  /** A create (POST to a collection) or a subresource's POST (binding, eviction). */
  post(path: string, body: Json): Promise<JsonObject> {
    return this.call('POST', path, JSON.stringify(body), 'application/json');
  }

  private call(method: string, path: string, body?: string, contentType?: string): Promise<JsonObject> {
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.server}${path}`,
        {
          method,
          ca: this.ca,
          timeout: 5000,
          headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(contentType ? { 'Content-Type': contentType } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => {
            let doc: JsonObject;
            try {
              doc = JSON.parse(text) as JsonObject;
            } catch {
              return reject(new KubeError(`${method} ${path}: HTTP ${res.statusCode ?? '?'} with a body that is not JSON`, res.statusCode ?? 0));
            }
            if ((res.statusCode ?? 500) >= 300) return reject(new KubeError(`${method} ${path}: ${String(doc.message ?? `HTTP ${res.statusCode ?? '?'}`)}`, res.statusCode ?? 0));
            resolve(doc);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer from ${this.server} in 5 s`)));
      req.on('error', (err) => reject(new KubeError(`${method} ${path}: ${err.message}`, 0)));
      req.end(body);
    });
  }
}

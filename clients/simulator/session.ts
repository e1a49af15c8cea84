/**
 * A signed-in simulated user, as an app keeps one: an access token (15 minutes) refreshed with the
 * rotating refresh token shortly before it expires, or a fresh log-in when the refresh is refused.
 */
import { ApiError, type RouterClient } from './router-client.ts';

const AUTH_FIELDS = 'accessToken refreshToken expiresAt user { id }';
const LOG_IN = `mutation SimLogIn($phone: String!, $password: String!) { logIn(phone: $phone, password: $password) { ${AUTH_FIELDS} } }`;
const SIGN_UP = `mutation SimSignUp($input: SignUpInput!) { signUp(input: $input) { ${AUTH_FIELDS} } }`;
const REFRESH = `mutation SimRefresh($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { ${AUTH_FIELDS} } }`;

/** Refresh this long before the access token expires (a request in flight must not carry a dead token). */
const REFRESH_AHEAD_MS = 60_000;

interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  user: { id: string };
}

export interface Credentials {
  phone: string;
  password: string;
}

export class Session {
  readonly credentials: Credentials;
  readonly #api: RouterClient;
  #auth: AuthPayload | undefined;

  constructor(api: RouterClient, credentials: Credentials) {
    this.#api = api;
    this.credentials = credentials;
  }

  get userId(): string {
    return this.#signedIn().user.id;
  }

  /** The current access token (for a socket's connection_init). */
  get token(): string {
    return this.#signedIn().accessToken;
  }

  async logIn(): Promise<void> {
    this.#auth = (await this.#api.request<{ logIn: AuthPayload }>(LOG_IN, { ...this.credentials })).logIn;
  }

  /** Signs up; when the phone is taken (a rerun), logs in instead. Returns whether the user is new. */
  async signUpOrLogIn(name: string, role: 'RIDER' | 'DRIVER'): Promise<boolean> {
    try {
      this.#auth = (await this.#api.request<{ signUp: AuthPayload }>(SIGN_UP, { input: { ...this.credentials, name, role } })).signUp;
      return true;
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'CONFLICT') throw error;
      await this.logIn();
      return false;
    }
  }

  /** A token valid for at least another minute: refreshed (or logged in again) when needed. Returns whether it changed. */
  async fresh(now = Date.now()): Promise<boolean> {
    if (!this.#auth) {
      await this.logIn();
      return true;
    }
    if (Date.parse(this.#auth.expiresAt) - now > REFRESH_AHEAD_MS) return false;
    try {
      this.#auth = (await this.#api.request<{ refreshSession: AuthPayload }>(REFRESH, { refreshToken: this.#auth.refreshToken })).refreshSession;
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'INVALID_REFRESH_TOKEN') throw error;
      await this.logIn();
    }
    return true;
  }

  /** Forgets the tokens: the next `fresh()` logs in (after an UNAUTHENTICATED answer). */
  forget(): void {
    this.#auth = undefined;
  }

  /** One operation as this user. */
  request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return this.#api.request<T>(query, variables, this.token);
  }

  #signedIn(): AuthPayload {
    if (!this.#auth) throw new Error(`${this.credentials.phone} is not signed in`);
    return this.#auth;
  }
}

import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const argon2Async = promisify(argon2);

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
export interface Argon2Parameters {
  memoryKiB: number;
  passes: number;
  parallelism: number;
}
export const DEFAULT_ARGON2: Argon2Parameters = { memoryKiB: 19_456, passes: 2, parallelism: 1 };

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** argon2id password hashing (Node's built-in implementation) in PHC string format. */
export class PasswordHasher {
  readonly parameters: Argon2Parameters;
  #dummyHash: Promise<string> | undefined;

  constructor(parameters: Argon2Parameters = DEFAULT_ARGON2) {
    this.parameters = parameters;
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const tag = await this.#derive(password, salt, this.parameters);
    const { memoryKiB, passes, parallelism } = this.parameters;
    return `$argon2id$v=19$m=${memoryKiB},t=${passes},p=${parallelism}$${b64(salt)}$${b64(tag)}`;
  }

  async verify(password: string, phc: string): Promise<boolean> {
    const match = PHC.exec(phc);
    if (!match) return false;
    const parameters = { memoryKiB: Number(match[1]), passes: Number(match[2]), parallelism: Number(match[3]) };
    const expected = Buffer.from(match[5], 'base64');
    const actual = await this.#derive(password, Buffer.from(match[4], 'base64'), parameters, expected.length);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /**
   * Verifies against a throwaway hash with the same cost: a log-in for an unknown phone costs the
   * same as one with a wrong password, so timing does not reveal who has an account.
   */
  async verifyAgainstNobody(password: string): Promise<false> {
    this.#dummyHash ??= this.hash(randomBytes(16).toString('hex'));
    await this.verify(password, await this.#dummyHash);
    return false;
  }

  #derive(password: string, salt: Buffer, parameters: Argon2Parameters, tagLength = 32): Promise<Buffer> {
    return argon2Async('argon2id', {
      message: Buffer.from(password, 'utf8'),
      nonce: salt,
      parallelism: parameters.parallelism,
      tagLength,
      memory: parameters.memoryKiB,
      passes: parameters.passes,
    });
  }
}

const b64 = (buffer: Buffer) => buffer.toString('base64').replace(/=+$/, '');

import { DEMO_PASSWORD, type DemoCity } from '../../platform/demo-city.ts';
import type { EntityManager } from '../../platform/db.ts';
import { User } from './entities.ts';
import { PasswordHasher } from './passwords.ts';

/** Demo users (admin, riders, drivers), all with DEMO_PASSWORD. Existing rows are left alone. */
export async function seedDemoUsers(em: EntityManager, city: DemoCity) {
  const users = [city.admin, ...city.riders, ...city.driverUsers];
  const existing = new Set((await em.find(User, { id: { $in: users.map((u) => u.id) } }, { fields: ['id'] })).map((u) => u.id));
  const missing = users.filter((u) => !existing.has(u.id));
  if (missing.length === 0) return;
  const passwordHash = await new PasswordHasher().hash(DEMO_PASSWORD); // one hash for all: demo data only
  for (const user of missing) em.create(User, { ...user, passwordHash });
  await em.flush();
}

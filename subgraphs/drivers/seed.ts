import type { DemoCity } from '../../platform/demo-city.ts';
import type { EntityManager } from '../../platform/db.ts';
import { Driver } from './entities.ts';

const DAY_MS = 86_400_000;

/** The demo city's drivers: approved by the demo admin, parked at their positions. Existing rows are left alone. */
export async function seedDemoDrivers(em: EntityManager, city: DemoCity) {
  const existing = new Set((await em.find(Driver, { id: { $in: city.drivers.map((d) => d.id) } }, { fields: ['id'] })).map((d) => d.id));
  const missing = city.drivers.filter((d) => !existing.has(d.id));
  if (missing.length === 0) return;
  const seededAt = new Date();
  for (const driver of missing) {
    em.create(Driver, {
      id: driver.id,
      userId: driver.userId,
      vehicleType: driver.vehicle.type,
      vehicleMake: driver.vehicle.make,
      vehicleModel: driver.vehicle.model,
      vehicleColor: driver.vehicle.color,
      vehiclePlate: driver.vehicle.plate,
      vehicleYear: driver.vehicle.year,
      approvalStatus: 'APPROVED',
      approvedAt: driver.approvedAt,
      approvedBy: city.admin.id,
      lastLat: driver.position.lat,
      lastLng: driver.position.lng,
      positionAt: seededAt,
      createdAt: new Date(driver.approvedAt.getTime() - DAY_MS),
      updatedAt: seededAt,
    });
  }
  await em.flush();
}

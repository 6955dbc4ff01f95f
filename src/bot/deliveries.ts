/** How long shutdown waits for final messages to reach Discord after the queue has stopped. */
export const DELIVERY_WAIT_MS = 10_000;

/** Registers a final message still on its way, so that shutdown can wait for it. */
export function trackDelivery(deliveries: Set<Promise<void>>, delivery: Promise<void>): void {
  deliveries.add(delivery);
  const remove = () => void deliveries.delete(delivery);
  delivery.then(remove, remove);
}

/** Resolves when no delivery is left, including those that start while waiting. */
export async function allDelivered(deliveries: Set<Promise<void>>): Promise<void> {
  while (deliveries.size > 0) await Promise.allSettled([...deliveries]);
}

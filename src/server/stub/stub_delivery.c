/* TEMPORARY, for branch mapi only: a weak stand-in for delivery_kick (delivery.h) so that
 * mcapid links until the delivery workers are merged. CMakeLists.txt leaves this file out as
 * soon as src/server/delivery/delivery.c exists; delete it at that merge. */
#include "server/delivery/delivery.h"

#include "common/banned.h"

__attribute__((weak)) void delivery_kick(struct delivery *d)
{
	(void)d;
}

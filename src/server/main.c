/* mcapid entry point (placeholder until the server lands). */
#include <stdio.h>

int main(void)
{
	puts("mcapid " MCAPI_VERSION);
	return 0;
}

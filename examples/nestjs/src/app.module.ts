import { BadRequestException, Module } from '@nestjs/common';
import { StowageModule } from '@stowage/nestjs';
import type { IncomingMessage } from 'node:http';
import { PlansController } from './plans.controller';
import { PlansService } from './plans.service';

/** The tenant of a request: the `x-tenant` header; a request without one is refused (400). */
function tenantOf(request: IncomingMessage): { stack: string } {
  const tenant = request.headers['x-tenant'];
  if (typeof tenant !== 'string' || tenant === '') {
    throw new BadRequestException('the x-tenant header is required');
  }
  return { stack: tenant };
}

@Module({
  imports: [
    // The module creates the client from CACHE_URL (memory:// when unset) and closes it on
    // shutdown. forRootAsync({ inject: [ConfigService], useFactory }) takes the same options.
    StowageModule.forRoot({ cache: { prefix: 'plans' }, scope: tenantOf, global: true }),
  ],
  controllers: [PlansController],
  providers: [PlansService],
})
export class AppModule {}

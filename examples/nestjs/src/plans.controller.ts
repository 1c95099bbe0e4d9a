import { Controller, Delete, Get, Param } from '@nestjs/common';
import type { CacheClient, CacheStats } from '@stowage/core';
import { invalidate } from '@stowage/decorator';
import { InjectCache } from '@stowage/nestjs';
import { PlansService, type Plan } from './plans.service';

@Controller()
export class PlansController {
  constructor(
    private readonly plans: PlansService,
    @InjectCache() private readonly cache: CacheClient,
  ) {}

  @Get('plans/:id')
  plan(@Param('id') id: string): Promise<Plan> {
    return this.plans.plan(id);
  }

  /** Busts this tenant's entry only: invalidate resolves the scope as a call would. */
  @Delete('plans/:id')
  async bust(@Param('id') id: string): Promise<{ deleted: boolean }> {
    return { deleted: await invalidate(this.plans, 'plan', id) };
  }

  @Get('stats')
  stats(): CacheStats {
    return this.cache.stats();
  }
}

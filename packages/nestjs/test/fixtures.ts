// A small NestJS app compiled like a real one (legacy decorators, design-type metadata through
// SWC): a provider and a controller with @cache methods, a guard and an interceptor that call
// the cached provider, and helpers that start it on a free port of 127.0.0.1.
import 'reflect-metadata';
import {
  BadRequestException,
  Controller,
  Get,
  Header,
  HttpCode,
  Injectable,
  Param,
  ParseIntPipe,
  UseGuards,
  UseInterceptors,
  type CallHandler,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  type ModuleMetadata,
  type NestInterceptor,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { CacheClient } from '@stowage/core';
import { StorageLevel } from '@stowage/core';
import { cache, getCacheScope } from '@stowage/decorator';
import type { IncomingMessage } from 'node:http';
import { mergeMap, type Observable } from 'rxjs';
import { InjectCache, type StowageScopeResolver } from '../src/index.js';

/** How often each function really ran, by `name:tenant:argument`. */
export const runs: Map<string, number> = new Map();

function count(name: string, arg: string | number, tenant = getCacheScope()?.stack): number {
  const key = `${name}:${tenant ?? '-'}:${arg}`;
  const next = (runs.get(key) ?? 0) + 1;
  runs.set(key, next);
  return next;
}

/** The number of real runs of `name` for `tenant` and `arg`. */
export function runsOf(name: string, tenant: string | undefined, arg: string | number): number {
  return runs.get(`${name}:${tenant ?? '-'}:${arg}`) ?? 0;
}

@Injectable()
export class PlanService {
  /** Stack level (the default): one entry per tenant and plan id. */
  @cache({ ttl: '5m' })
  async plan(id: string): Promise<{ id: string; tenant: string | undefined; run: number }> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { id, tenant: getCacheScope()?.stack, run: count('plan', id) };
  }

  /** Service level: shared by every tenant. */
  @cache({ ttl: '5m', storageLevel: StorageLevel.Service })
  async rate(currency: string): Promise<{ currency: string; run: number }> {
    return { currency, run: count('rate', currency, 'any tenant') };
  }
}

@Injectable()
export class TenantGuard implements CanActivate {
  readonly #plans: PlanService;
  constructor(plans: PlanService) {
    this.#plans = plans;
  }
  /** Reads through the cache before the handler: guards run inside the request scope too. */
  async canActivate(): Promise<boolean> {
    await this.#plans.plan('guard');
    return true;
  }
}

@Injectable()
export class AfterInterceptor implements NestInterceptor {
  readonly #plans: PlanService;
  constructor(plans: PlanService) {
    this.#plans = plans;
  }
  /** Reads through the cache after the handler's observable emits. */
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      mergeMap(async (body: unknown) => ({
        body,
        after: (await this.#plans.plan('after')).tenant ?? null,
      })),
    );
  }
}

@Controller('plans')
export class PlanController {
  readonly #plans: PlanService;
  readonly client: CacheClient;
  constructor(plans: PlanService, @InjectCache() client: CacheClient) {
    this.#plans = plans;
    this.client = client;
  }

  @Get(':id')
  async plan(@Param('id') id: string): Promise<unknown> {
    return this.#plans.plan(id);
  }

  @Get('rate/:currency')
  async rate(@Param('currency') currency: string): Promise<unknown> {
    return this.#plans.rate(currency);
  }

  /** @cache below the route decorators: they decorate the wrapper. */
  @Get('square/:n')
  @HttpCode(203)
  @cache({ ttl: '1m' })
  async square(
    @Param('n', ParseIntPipe) n: number,
  ): Promise<{ n: number; square: number; run: number }> {
    return { n, square: n * n, run: count('square', n) };
  }

  /** @cache above the route decorators: it copies their metadata onto the wrapper. */
  @cache({ ttl: '1m' })
  @Header('x-cached-by', 'stowage')
  @Get('cube/:n')
  async cube(
    @Param('n', ParseIntPipe) n: number,
  ): Promise<{ n: number; cube: number; run: number }> {
    return { n, cube: n ** 3, run: count('cube', n) };
  }

  @Get('guarded/:id')
  @UseGuards(TenantGuard)
  @UseInterceptors(AfterInterceptor)
  async guarded(@Param('id') id: string): Promise<unknown> {
    return this.#plans.plan(id);
  }
}

/** The resolver the tests use: tenant from `x-tenant`, session from `x-session`. */
export const headerScope: StowageScopeResolver = (request: IncomingMessage) => {
  const later = request.headers['x-async-tenant'];
  // A resolver that looks the tenant up asynchronously (a session store, a token check).
  if (typeof later === 'string') return asyncScope(later);
  const tenant = request.headers['x-tenant'];
  if (tenant === 'refuse-me') throw new BadRequestException('unknown tenant');
  // `x-tenants` lets a test hand the middleware a non-string id (what a naive resolver of a
  // repeated header would return).
  const many = request.headers['x-tenants'];
  if (typeof many === 'string') return { stack: many.split(',') as unknown as string };
  return {
    stack: typeof tenant === 'string' ? tenant : undefined,
    session:
      typeof request.headers['x-session'] === 'string' ? request.headers['x-session'] : undefined,
  };
};

async function asyncScope(tenant: string): Promise<{ stack: string }> {
  await new Promise((resolve) => setTimeout(resolve, 2));
  if (tenant === 'refuse-me') throw new BadRequestException('unknown tenant');
  return { stack: tenant };
}

/** A started app and how to reach it. */
export interface RunningApp {
  readonly app: INestApplication;
  readonly url: string;
  /** GET `path` with the given tenant (none when undefined); resolves status and JSON body. */
  readonly get: (
    path: string,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: unknown; headers: Headers }>;
}

/** Compiles a testing module with `stowage` and the fixtures, listens on a free port. */
export async function startApp(
  stowage: DynamicModule,
  extra: { imports?: ModuleMetadata['imports'] } = {},
): Promise<RunningApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [stowage, ...(extra.imports ?? [])],
    controllers: [PlanController],
    providers: [PlanService, TenantGuard, AfterInterceptor],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  const get: RunningApp['get'] = async (path, headers = {}) => {
    const response = await fetch(`${url}${path}`, { headers });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
      headers: response.headers,
    };
  };
  return { app, url, get };
}

// Starts the service. Environment:
//   PORT=3000 HOST=127.0.0.1 LOOKUP_DELAY_MS=200
//   CACHE_URL=memory:// (default) | memcached://127.0.0.1:11211 | redis://127.0.0.1:6379
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  // SIGTERM / SIGINT run the shutdown hooks: StowageModule closes the client it created.
  app.enableShutdownHooks();
  const host = process.env['HOST'] ?? '127.0.0.1';
  await app.listen(Number(process.env['PORT'] ?? 3000), host);
  console.log(`listening on ${await app.getUrl()}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `sessions_user_idx` ON `sessions` (`user_id`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`username` text NOT NULL,
	`username_key` text NOT NULL,
	`password_hash` text,
	`role` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_key_unique` ON `users` (`username_key`);--> statement-breakpoint
DROP INDEX `bots_name_key_unique`;--> statement-breakpoint
ALTER TABLE `bots` ADD `owner_id` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `bots_owner_name_key_unique` ON `bots` (`owner_id`,`name_key`);--> statement-breakpoint
DROP INDEX `pipelines_name_key_unique`;--> statement-breakpoint
ALTER TABLE `pipelines` ADD `owner_id` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `pipelines_owner_name_key_unique` ON `pipelines` (`owner_id`,`name_key`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `user_id` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `owner_id` integer DEFAULT 1 NOT NULL;
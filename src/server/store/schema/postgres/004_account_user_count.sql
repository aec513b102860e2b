-- 004: the number of users of each account kept by a trigger; the PostgreSQL twin of
-- schema/sqlite/004_account_user_count.sql.
ALTER TABLE accounts ADD COLUMN user_count bigint NOT NULL DEFAULT 0;
UPDATE accounts SET user_count = (SELECT count(*) FROM users WHERE users.account_id = accounts.id);

CREATE FUNCTION users_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		UPDATE accounts SET user_count = user_count - 1 WHERE id = OLD.account_id;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		UPDATE accounts SET user_count = user_count + 1 WHERE id = NEW.account_id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER users_count_insert AFTER INSERT ON users
	FOR EACH ROW EXECUTE FUNCTION users_count_trigger();
CREATE TRIGGER users_count_delete AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION users_count_trigger();
CREATE TRIGGER users_count_move AFTER UPDATE OF account_id ON users
	FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id) EXECUTE FUNCTION users_count_trigger();
